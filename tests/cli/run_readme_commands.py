"""Runs every command the README shows, as a reader would paste it, against the built tree: each code block of shell
commands (tagged sh, bash, shell or console, or untagged with lines that start with a program), split at `&&`, run in
a fresh folder per block (so a block's `eval` reads the file its `train` wrote) that holds links to the source tree's
entries and to the build, with HOME there too (`~/.local`).
Each command must exit 0, and each file it names as an output (--out, --plot, --log, --checkpoint, --prefix) must
exist and not be empty. A README command can thus not drift from the tool. CMake blocks must be lines that
examples/consumer/CMakeLists.txt holds (the target's name aside), the project a test builds.

Commands are taken as they are, except those in SKIP, each with the reason; a command too long for a test run would be
shortened through SHORTEN (the option and the value that replaces it), which is empty while none is.
    run_readme_commands.py README.md SOURCE_DIR BUILD_DIR"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

# Commands not run: a prefix of their words, and why.
SKIP = {
    ("bash", "scripts/setup.sh"): "installs Debian packages (apt-get, network, root) and builds the tree, which the "
                                  "test runs against already built",
    ("ctest",): "runs the whole suite, of which this test is one",
}
# {program word: {option: value}}: options whose value is replaced to keep a run short. None needs it now.
SHORTEN = {}
OUTPUTS = ("--out", "--plot", "--log", "--checkpoint", "--prefix")
SHELL = ("sh", "bash", "shell", "console")


def blocks(text):
    """(tag, body) of each fenced code block."""
    return re.findall(r"^```([\w+-]*)[^\n]*\n(.*?)^```", text, re.M | re.S)


def commands(body):
    """The block's commands: comments dropped, continued lines joined, split at &&."""
    joined = re.sub(r"\\\n", " ", body)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = re.sub(r"\s+#.*$", "", line) if " #" in line and not line.startswith("#") else line
        out += [c.strip() for c in line.split("&&") if c.strip()]
    return out


def is_program(word, source):
    return shutil.which(word) is not None or word.startswith("build/") or os.path.isfile(os.path.join(source, word))


def skipped(words):
    for prefix, why in SKIP.items():
        if tuple(words[:len(prefix)]) == prefix:
            return why
    return None


def outputs(words):
    """The files a command names as its outputs, relative to its folder or absolute."""
    found = []
    for i, w in enumerate(words):
        name, _, value = w.partition("=")
        if name in OUTPUTS:
            v = value or (words[i + 1] if i + 1 < len(words) else "")
            found.append(v)
    return found


def main(readme, source, build):
    text = open(readme).read()
    # The target a line names is the reader's own (my_app): compared without it.
    anon = lambda code: re.sub(r"^(target_\w+)\(\s*[\w-]+", r"\1(TARGET", code)  # noqa: E731
    consumer = [anon(line.split("#")[0].strip())
                for line in open(os.path.join(source, "examples", "consumer", "CMakeLists.txt"))]
    ran, skips, failures = 0, [], []
    for tag, body in blocks(text):
        if tag == "cmake":
            for line in body.splitlines():
                code = anon(line.split("#")[0].strip())
                if code and code not in consumer:
                    failures.append(f"README's CMake line '{code}' is not in examples/consumer/CMakeLists.txt")
            continue
        cmds = commands(body)
        if not cmds or (tag not in SHELL and (tag or not all(is_program(shlex.split(c)[0], source) for c in cmds))):
            continue  # program output, or code of another language
        # The files the block writes at the top of its folder: a reader who ran the README before has them in the
        # tree, and the block makes its own instead of seeing theirs (a deeper path still reaches the tree).
        written = {f for c in cmds for f in outputs(shlex.split(c)) if f and os.path.dirname(os.path.normpath(f)) == ""}
        with tempfile.TemporaryDirectory(prefix="readme_") as d:  # one folder per block: a later command reads
            for entry in os.listdir(source):                         # what an earlier one wrote
                if entry not in ("build", ".git") and entry not in written:
                    os.symlink(os.path.join(source, entry), os.path.join(d, entry))
            os.symlink(build, os.path.join(d, "build"))
            home = os.path.join(d, "home")
            os.mkdir(home)
            for cmd in cmds:
                words = shlex.split(cmd)
                why = skipped(words)
                if why:
                    skips.append(f"{cmd[:60]}...: {why}")
                    continue
                for option, value in SHORTEN.get(words[0], {}).items():
                    if option in words:
                        words[words.index(option) + 1] = value
                words = [home + w[1:] if w == "~" or w.startswith("~/") else w for w in words]
                wanted = outputs(words)
                for f in wanted:
                    top = os.path.relpath(os.path.join(d, f), d).split(os.sep)[0]
                    if top != ".." and os.path.islink(os.path.join(d, top)):
                        failures.append(f"'{cmd}' writes {f} into the source tree; the test will not run it")
                        break
                else:
                    env = dict(os.environ, HOME=home)
                    p = subprocess.run(["bash", "-c", shlex.join(words)], cwd=d, env=env, capture_output=True,
                                       text=True, timeout=1200)
                    ran += 1
                    if p.returncode != 0:
                        failures.append(f"'{cmd}' exited {p.returncode}: {(p.stderr.strip().splitlines() or [''])[-1]}")
                        continue
                    for f in wanted:
                        path = os.path.join(d, f)
                        ok = os.path.isdir(path) and os.listdir(path) or os.path.isfile(path) and os.path.getsize(path)
                        if not ok:
                            failures.append(f"'{cmd}' did not write {f}")
                    print(f"ran: {cmd}")
    for s in skips:
        print(f"skipped: {s}")
    for f in failures:
        print(f"FAIL: {f}")
    if ran == 0:
        failures.append("no README command was run")
        print("FAIL: no README command was run")
    print(f"{ran} README commands run, {len(skips)} skipped, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: run_readme_commands.py README.md SOURCE_DIR BUILD_DIR")
    sys.exit(main(*sys.argv[1:]))
