#!/usr/bin/env python3
"""Differential fuzz of dkms.conf reading and command lines: swift-dkms against
upstream dkms 3.4.3, in private trees, with a fake kbuild kernel.

Every case runs the same command sequence with each program in its own fresh
sandbox (ROOT/d --dkmstree, ROOT/s --sourcetree, ROOT/i --installtree,
ROOT/etc SWIFT_DKMS_SYSCONFDIR, ROOT/tmp TMPDIR) and compares, command by
command, standard output, standard error and the exit status, then the
resulting trees (paths, link targets, file contents). Only the sandbox root,
the program path and the names of mktemp's temporary files are normalised.

Two kinds of cases:
  conf  a dkms.conf (mutated from a seed conf or synthesised) is added from a
        source directory, then status, build, status and remove run on it;
  cmd   a random command line runs against a tree holding one added and one
        built module.

A divergence is classified (see classify()); classes listed in
docs/conf-divergences.md (lines starting with "- `CLASS`") are deliberate
and counted apart. Exits 1 when any case crashed (killed by a signal), hung
(hit the timeout) or diverged outside the list. Ends with "N passed, N failed".

Usage: conf_fuzz.py --ours BIN --upstream SCRIPT [--confs N] [--cmds N]
                    [--seed S] [--jobs J] [--timeout T] [--seeds-dir DIR]...
                    [--keep DIR] [--only-case N] [--show N]
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
KVER = "6.1.0-fz"
ARCH = os.uname().machine

# --- seed confs (written for this generator, in the shapes real packages use) -------------
SEEDS = [
    'PACKAGE_NAME="acme"\nPACKAGE_VERSION="1.0"\nBUILT_MODULE_NAME[0]="acme"\n'
    'DEST_MODULE_LOCATION[0]="/updates/dkms"\nAUTOINSTALL="yes"\n',
    'PACKAGE_NAME=twin\nPACKAGE_VERSION=2.3.4\nBUILT_MODULE_NAME[0]=twin_a\nBUILT_MODULE_NAME[1]=twin_b\n'
    'DEST_MODULE_LOCATION[0]=/extra\nDEST_MODULE_LOCATION[1]=/extra\nAUTOINSTALL=yes\n',
    '# a module built with an explicit make line\nPACKAGE_NAME="mk"\nPACKAGE_VERSION="0.9"\n'
    'MAKE[0]="make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build"\n'
    'CLEAN="make clean"\nBUILT_MODULE_NAME[0]="mk"\nDEST_MODULE_LOCATION[0]="/kernel/drivers/misc"\n'
    'AUTOINSTALL="yes"\n',
    'PACKAGE_NAME="loc"\nPACKAGE_VERSION="5"\nBUILT_MODULE_NAME[0]="loc"\nBUILT_MODULE_LOCATION[0]="./"\n'
    'DEST_MODULE_NAME[0]="loc"\nDEST_MODULE_LOCATION[0]="/updates"\nSTRIP[0]="no"\n'
    'BUILD_EXCLUSIVE_KERNEL="^6\\.*"\nNO_WEAK_MODULES="yes"\n',
    'PACKAGE_NAME=sh\nPACKAGE_VERSION=1.1\nBUILT_MODULE_NAME[0]=$PACKAGE_NAME\n'
    'DEST_MODULE_LOCATION[0]=/extra\nif [ "$kernelver" ]; then AUTOINSTALL=yes; fi\n',
    'PACKAGE_NAME=crlf\r\nPACKAGE_VERSION=3.0\r\nBUILT_MODULE_NAME[0]=crlf\r\nDEST_MODULE_LOCATION[0]=/extra\r\n',
    'PACKAGE_NAME="sparse"\nPACKAGE_VERSION="1"\nBUILT_MODULE_NAME[2]="sp_c"\nDEST_MODULE_LOCATION[2]="/extra"\n'
    'BUILT_MODULE_NAME[0]="sp_a"\nDEST_MODULE_LOCATION[0]="/extra"\n',
    "PACKAGE_NAME='quoted'\nPACKAGE_VERSION='4.0'  # trailing comment\nBUILT_MODULE_NAME[0]='quoted'\n"
    "DEST_MODULE_LOCATION[0]='/extra'\nPOST_INSTALL='post.sh'\nBUILD_DEPENDS=('other')\n",
]

NAME_BITS = ["acme", "x", "a.b", "a-b", "a_b", "A", "9", "mod\xe9", ".", "..", "a/b", "a b", "-x", "~", "*",
             "", "x\\y", "$HOME", "`id`", "x\ty", "aé", "a:b", "a\"b", "a'b"]
VALUE_BITS = ["1.0", "1  0", " 1.0", "1.0 ", "\t1.0\t", "1.0\r", "1.0 \r", ".", "..", "a/b", "", "0", "1e3",
              "$kernelver", "${arch}", "$(echo sub)", "`echo bq`", "*", "a*b", "[x]", "\\n", "x\"y", "é", "\xff",
              "~", "~/x", "@(a|b)", "!(x)", "yes", "no", "YES", "No", "/extra", "/kernel/x", "/updates/dkms",
              "/elsewhere", "m.ko", "m.o", "-n", "-e x", "a;b", "a|b", "a&b", "a>b", "{a,b}", "$'\\x41'"]
INDEX_BITS = ["0", "1", "2", "00", "010", "08", "09", "0x1", "1+1", "-1", "99", " 1 ", "$((1))", "i", "",
              "99999999999", "4294967296", "2**40", "1e3", "07"]
WHITELIST = ["PACKAGE_NAME", "PACKAGE_VERSION", "BUILT_MODULE_NAME", "BUILT_MODULE_LOCATION", "DEST_MODULE_NAME",
             "DEST_MODULE_LOCATION", "STRIP", "AUTOINSTALL", "MAKE", "MAKE_MATCH", "PATCH", "PATCH_MATCH",
             "CLEAN", "BUILD_EXCLUSIVE_KERNEL", "BUILD_EXCLUSIVE_ARCH", "BUILD_EXCLUSIVE_KERNEL_MIN",
             "BUILD_EXCLUSIVE_KERNEL_MAX", "NO_WEAK_MODULES", "BUILD_DEPENDS", "POST_ADD", "PRE_BUILD",
             "OBSOLETE_BY", "REMAKE_INITRD", "MODULES_CONF", "BUILD_DEPENDS_REBUILD", "OTHER", "IFS"]
STATEMENTS = ["set -e", "set -u", "set -o pipefail", "IFS=.", "IFS=", "IFS=0", "IFS=/", "IFS=' '", "IFS=a",
              "declare X=1", "declare -a BUILT_MODULE_NAME", "declare -A BUILT_MODULE_NAME", "declare -i STRIP",
              "readonly PACKAGE_NAME", "readonly BUILT_MODULE_NAME", "local L=1", "local PACKAGE_VERSION=7",
              "unset PACKAGE_VERSION", "return", "return 3", "exit", "exit 1", "false", "true",
              "shopt -s nullglob", "shopt -u extglob", "set -f", "alias echo=false", "echo() { :; }",
              "eval() { :; }", "printf() { :; }", "unset -f echo", "trap 'echo trapped' EXIT", "cd /",
              "exec 3>&-", "echo out", "echo err >&2", "f() { PACKAGE_NAME=fn; }; f", "BUILT_MODULE_NAME=()",
              "BUILT_MODULE_NAME+=(plus)", "PACKAGE_VERSION+=.1", "DKMS_DIRECTIVE=x", "DKMS_DIRECTIVE_A=a=b",
              "if", "fi", "(", "'", '"', "\\", "$(", "`", "((1/0))", "x=$((08))", ": ${UNSET?boom}",
              "kill -9 $$", "sleep 0", "[[ $kernelver == 6* ]] && AUTOINSTALL=yes", "source /dev/null",
              ". /nonexistent", "PATH=", "umask 777", "ulimit -f 0", "set -x", "set -v", "wait",
              "read -r X </dev/null", "typeset Y=2", "export PACKAGE_NAME", "shift", "set -- a b"]


def q(v, rng):
    style = rng.random()
    if style < 0.45:
        return '"%s"' % v
    if style < 0.6:
        return "'%s'" % v
    return v


def synth_conf(rng):
    """A conf built from scratch out of the bit lists."""
    lines = []
    name = rng.choice(NAME_BITS) if rng.random() < 0.4 else "syn%d" % rng.randrange(100)
    ver = rng.choice(VALUE_BITS) if rng.random() < 0.4 else "%d.%d" % (rng.randrange(3), rng.randrange(10))
    lines.append("PACKAGE_NAME=" + q(name, rng))
    lines.append("PACKAGE_VERSION=" + q(ver, rng))
    for _ in range(rng.randrange(0, 7)):
        var = rng.choice(WHITELIST)
        idx = "" if rng.random() < 0.3 else "[%s]" % rng.choice(INDEX_BITS)
        val = rng.choice(VALUE_BITS + NAME_BITS)
        lines.append("%s%s=%s" % (var, idx, q(val, rng)))
    if rng.random() < 0.5:
        lines.append("BUILT_MODULE_NAME[0]=" + q(rng.choice(["syn", "m", name]), rng))
        lines.append("DEST_MODULE_LOCATION[0]=" + q(rng.choice(["/extra", "/updates/dkms", "/kernel/d"]), rng))
    for _ in range(rng.randrange(0, 3)):
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(STATEMENTS))
    return "\n".join(lines) + rng.choice(["\n", "", "\n\n"])


def mutate(text, rng):
    """One to three mutations of a seed conf; returns text and their tags."""
    lines = text.split("\n")
    tags = []
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(12)
        i = rng.randrange(len(lines))
        line = lines[i]
        m = re.match(r"^(\w+)(\[[^]]*\])?=(.*)$", line)
        if op == 0 and m:      # index change
            lines[i] = "%s[%s]=%s" % (m.group(1), rng.choice(INDEX_BITS), m.group(3)); tags.append("index")
        elif op == 1 and m:    # value change
            lines[i] = "%s%s=%s" % (m.group(1), m.group(2) or "", q(rng.choice(VALUE_BITS), rng)); tags.append("value")
        elif op == 2:          # blank before CR / CRLF everywhere
            if rng.random() < 0.5:
                lines[i] = line + rng.choice([" \r", "\r", "\t\r", " \r\r"])
            else:
                lines = [l + "\r" for l in lines]
            tags.append("cr")
        elif op == 3:          # statement
            lines.insert(i, rng.choice(STATEMENTS)); tags.append("stmt")
        elif op == 4 and m:    # name or version from the hostile list
            v = rng.choice(NAME_BITS)
            lines[i] = "%s=%s" % (rng.choice(["PACKAGE_NAME", "PACKAGE_VERSION"]), q(v, rng)); tags.append("name")
        elif op == 5:          # delete a line
            del lines[i]; tags.append("del")
            if not lines:
                lines = [""]
        elif op == 6:          # duplicate a line
            lines.insert(i, line); tags.append("dup")
        elif op == 7 and m:    # whitespace games
            lines[i] = rng.choice(["  ", "\t", ""]) + line + rng.choice(["  ", " # c", "\t", ";"]); tags.append("blank")
        elif op == 8:          # byte games
            pos = rng.randrange(len(line) + 1)
            lines[i] = line[:pos] + rng.choice(["\xff", "\xe9", "\x00", "\x01", "\\", "$", "'", '"', "#", " "]) + line[pos:]
            tags.append("byte")
        elif op == 9:          # append synthesised lines
            lines.extend(synth_conf(rng).split("\n")[2:]); tags.append("synth")
        elif op == 10 and m:   # array literal
            lines[i] = "%s=(%s)" % (m.group(1), " ".join(q(rng.choice(VALUE_BITS), rng) for _ in range(rng.randrange(1, 4))))
            tags.append("array")
        elif op == 11:         # += / declare prefix
            if m:
                lines[i] = rng.choice(["declare ", "readonly ", "local ", "export ", "typeset "]) + line
                tags.append("decl")
    return "\n".join(lines), tags


# --- command lines ---------------------------------------------------------------------------
ACTIONS = ["add", "build", "install", "uninstall", "unbuild", "remove", "status", "match", "mktarball",
           "ldtarball", "autoinstall", "kernel_postinst", "kernel_prerm", "kernel_preinst", "generate_mok",
           "bogus", ""]
MODSPECS = ["good/1.0", "built/2.0", "good", "built", "good/1.0/x", "good/.", "good/..", "./1.0", "../1.0",
            "/1.0", "good/", "/", ".", "..", "missing/1.0", "good/1.0\xff", "g\xffood/1.0", "good/ 1.0",
            "-m", "--all", "good/1.0 ", "built/2.0/"]
OPTIONS = [["-k", KVER], ["-k", KVER], ["-k", ""], ["-k", "9.9.9"], ["-k", KVER + "/" + ARCH], ["-k", KVER + "/"],
           ["-a", ARCH], ["-a", ""], ["--arch", "arm"], ["--all"], ["--force"], ["--verbose"], ["-q"],
           ["--kernelsourcedir", ""], ["--kernelsourcedir", "/nonexistent"], ["--kernelsourcedir", "@I/" + KVER + "/build"],
           ["-m", "good"], ["-m", "good", "-v", "1.0"], ["-v", "2.0"], ["-v", "."], ["-m", "."], ["-m", ".."],
           ["-m", "a/b"], ["--directive", "X=1"], ["--directive", "MAKE=make"], ["-c", "@P/dkms.conf"], ["-c", ""],
           ["--no-depmod"], ["--no-initrd"], ["--binaries-only"], ["--source-only"], ["--archive", ""],
           ["--archive", "@R/none.tar"], ["-j", "2"], ["-j", "x"], ["--jobs=0"], ["--modprobe-on-install"],
           ["--force-version-override"], ["--unknown"], ["-Z"], ["--config", "/nonexistent"], ["--"], ["-k"],
           ["--rpm_safe_upgrade"], ["--dkmsframework", "/nonexistent"]]


def gen_cmd(rng):
    words = []
    action = rng.choice(ACTIONS)
    if action:
        words.append(action)
    for _ in range(rng.randrange(0, 4)):
        if rng.random() < 0.5:
            words.append(rng.choice(MODSPECS))
        else:
            words.extend(rng.choice(OPTIONS))
    rng.shuffle(words) if rng.random() < 0.2 else None
    return words


# --- running ---------------------------------------------------------------------------------
KERNEL_BUILD = None   # the shared fake kbuild directory (tests/faults/lib.sh's fx_fake_kernel)


def make_fake_kernel(work):
    """One fake kbuild (the shell suites' fx_fake_kernel) that every sandbox links to as
    i/KVER/build."""
    global KERNEL_BUILD
    root = os.path.join(work, "kernel")
    subprocess.run(["bash", "-c", 'source "$1" && fx_init "$2" && fx_fake_kernel "$3" 0', "_",
                    os.path.join(REPO, "tests/faults/lib.sh"), root, KVER], check=True)
    KERNEL_BUILD = "%s/i/%s/build" % (root, KVER)


def write(path, data, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape"))
    if mode:
        os.chmod(path, mode)


def module_source(dirpath, conf, mods):
    write(dirpath + "/dkms.conf", conf.encode("latin-1", "replace") if isinstance(conf, str) else conf)
    write(dirpath + "/Makefile", "obj-m := %s\n" % " ".join(m + ".o" for m in mods))
    for m in mods:
        write("%s/%s.c" % (dirpath, m), 'static const char v[] __attribute__((used, section(".modinfo"))) = "version=1";\n')


def sandbox(root):
    for d in ["d", "s", "i", "etc", "tmp", "pk"]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.makedirs("%s/i/%s" % (root, KVER), exist_ok=True)
    os.symlink(KERNEL_BUILD, "%s/i/%s/build" % (root, KVER))


def conf_modules(conf):
    names = set(re.findall(r"BUILT_MODULE_NAME\[\d\]=[\"']?([A-Za-z_][A-Za-z_0-9]*)", conf))
    return sorted(names | {"acme", "syn", "m", "x", "twin_a", "twin_b", "mk", "loc", "sp_a", "sp_c", "quoted", "crlf", "sh"})


def run_one(prog, root, argv, timeout):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": root, "TMPDIR": root + "/tmp",
           "SWIFT_DKMS_SYSCONFDIR": root + "/etc", "try_sign_modules": "false", "parallel_jobs": "1",
           "LC_ALL": "C"}
    # The tree options come first: a generated option at the end (`-v`, `-k`)
    # would otherwise take --dkmstree as its value and leave the real tree.
    full = [prog, "--dkmstree", root + "/d", "--sourcetree", root + "/s", "--installtree", root + "/i"] + \
        [a.replace("@R", root).replace("@I", root + "/i").replace("@P", root + "/pk/src") for a in argv]
    try:
        p = subprocess.run([os.fsencode(a) if isinstance(a, str) else a for a in
                            [x.encode("utf-8", "surrogateescape") for x in full]],
                           env=env, cwd=root + "/tmp", stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout, start_new_session=True)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        return "timeout", e.stdout or b"", e.stderr or b""


def tree_state(root):
    out = []
    for sub in ["d", "s", "i"]:
        base = os.path.join(root, sub)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for n in sorted(dirnames + filenames):
                p = os.path.join(dirpath, n)
                rel = os.path.relpath(p, root)
                # Ours keeps a lock, a journal and build logs under dot names
                # at the top of the dkms tree (invisible to upstream's commands).
                if (rel.startswith("i/") and (rel.endswith("/build") or "/build/" in rel)) or rel.startswith("d/."):
                    continue
                if os.path.islink(p):
                    out.append("%s -> %s" % (rel, os.readlink(p)))
                elif os.path.isdir(p):
                    out.append(rel + "/")
                elif n.endswith((".ko", ".o", ".log", ".lock")) or "/log/" in rel or n.startswith(".") or "/build/" in rel:
                    out.append(rel)
                else:
                    with open(p, "rb") as f:
                        out.append("%s = %r" % (rel, f.read(2000)))
    return out


def normalise(data, root, prog):
    text = data.replace(root.encode(), b"@ROOT").replace(prog.encode(), b"@DKMS")
    text = re.sub(rb"/tmp/tmp\.[A-Za-z0-9]{10}", b"@TMPFILE", text)
    text = re.sub(rb"@ROOT/tmp/(tmp|dkms)\.[A-Za-z0-9]{6,10}", b"@TMPFILE", text)
    text = re.sub(rb"@DKMS: line \d+: ", b"@DKMS: line N: ", text)
    # A glob in a value read back unquoted can match mktemp's file in $TMPDIR.
    text = re.sub(rb"\btmp\.[A-Za-z0-9]{10}\b", b"@TMPNAME", text)
    return text


def setup_case(root, case):
    sandbox(root)
    if case["kind"] == "conf":
        module_source(root + "/pk/src", case["conf"], conf_modules(case["conf"]))
    else:
        good = 'PACKAGE_NAME=good\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=good\nDEST_MODULE_LOCATION[0]=/extra\n'
        built = 'PACKAGE_NAME=built\nPACKAGE_VERSION=2.0\nBUILT_MODULE_NAME[0]=built\nDEST_MODULE_LOCATION[0]=/extra\nAUTOINSTALL=yes\n'
        module_source(root + "/pk/src", good, ["good"])
        module_source(root + "/pk/built", built, ["built"])


CMD_SETUP = [["add", "@P"], ["add", "@R/pk/built"], ["build", "-k", KVER, "built/2.0"]]


def case_commands(case):
    if case["kind"] == "conf":
        spec = case.get("spec")
        cmds = [["add", "@P"]]
        if spec and case["id"] % 4 == 0:
            cmds += [["status"], ["build", "-k", KVER, spec], ["remove", spec, "--all"]]
        return cmds
    return [case["argv"], ["status"]]


TEMPLATES = {}


def reachable(directory):
    """A work directory the sandbox's build user can enter (mkdtemp makes it 0700)."""
    os.chmod(directory, 0o755)
    return directory


def template_for(prog):
    """The tree every command-line case starts from (one added and one built module), made
    once per program by running CMD_SETUP; cases get a copy."""
    if prog not in TEMPLATES:
        root = reachable(tempfile.mkdtemp(prefix="fz-template.", dir=os.environ.get("FUZZ_TMP", "/tmp")))
        setup_case(root, {"kind": "cmd"})
        for argv in CMD_SETUP:
            run_one(prog, root, argv, 60)
        TEMPLATES[prog] = root
    return TEMPLATES[prog]


def copy_template(template, root):
    shutil.copytree(template, root, symlinks=True, dirs_exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if os.path.islink(p) and os.readlink(p).startswith(template):
                target = root + os.readlink(p)[len(template):]
                os.unlink(p)
                os.symlink(target, p)


def execute(prog, case, keep=None):
    root = reachable(tempfile.mkdtemp(prefix="fz.", dir=os.environ.get("FUZZ_TMP", "/tmp")))
    try:
        if case["kind"] == "cmd":
            copy_template(template_for(prog), root)
        else:
            setup_case(root, case)
        steps = []
        for argv in case_commands(case):
            rc, out, err = run_one(prog, root, argv, case["timeout"])
            steps.append((argv, rc, normalise(out, root, prog), normalise(err, root, prog)))
        tree = [normalise(l.encode("utf-8", "surrogateescape"), root, prog) for l in tree_state(root)]
        return steps, tree
    finally:
        if keep:
            shutil.copytree(root, keep, symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)


def spec_of(conf):
    n = re.search(r"^PACKAGE_NAME=[\"']?([A-Za-z0-9_.-]+)[\"']?$", conf, re.M)
    v = re.search(r"^PACKAGE_VERSION=[\"']?([A-Za-z0-9_.-]+)[\"']?$", conf, re.M)
    return "%s/%s" % (n.group(1), v.group(1)) if n and v else None


def make_cases(args):
    rng = random.Random(args.seed)
    seeds = list(SEEDS)
    for d in args.seeds_dir or []:
        for dirpath, _, files in os.walk(d):
            for f in files:
                if f == "dkms.conf" or f.endswith(".conf"):
                    with open(os.path.join(dirpath, f), "rb") as fh:
                        seeds.append(fh.read().decode("utf-8", "surrogateescape"))
    cases = []
    for n in range(args.confs):
        if n % 3 == 2:
            text, tags = synth_conf(rng), ["synth"]
        else:
            text, tags = mutate(rng.choice(seeds), rng)
        cases.append({"kind": "conf", "conf": text, "tags": tags, "spec": spec_of(text)})
    for n in range(args.cmds):
        cases.append({"kind": "cmd", "argv": gen_cmd(rng), "tags": ["cmd"]})
    for i, c in enumerate(cases):
        c["id"] = i
        c.setdefault("spec", None)
        c["timeout"] = args.timeout
    return cases


def classify(case, ours, theirs):
    """Divergence classes of one case: 'crash', 'hang', or FIELD:TAGS where FIELD is the first
    thing that differs (exit, stdout, stderr, tree) and TAGS the mutations applied."""
    (osteps, otree), (usteps, utree) = ours, theirs
    classes = []
    for (argv, orc, oout, oerr), (_, urc, uout, uerr) in zip(osteps, usteps):
        if orc == "timeout":
            classes.append("hang" if urc != "timeout" else "both-hang")
        elif isinstance(orc, int) and orc < 0:
            classes.append("crash")
    if classes:
        return classes, None
    for i, ((argv, orc, oout, oerr), (_, urc, uout, uerr)) in enumerate(zip(osteps, usteps)):
        what = None
        if orc != urc:
            what = "exit"
        elif oout != uout:
            what = "stdout"
        elif oerr != uerr:
            what = "stderr"
        if what:
            return [what], i
    if otree != utree:
        return ["tree"], len(osteps)
    return [], None


def load_documented():
    path = os.path.join(REPO, "docs", "conf-divergences.md")
    doc = {}
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            m = re.match(r"^- `([^`]+)`", line)
            if m:
                doc[m.group(1)] = True
    return doc


def documented_class(case, ours, theirs):
    """The documented class a divergence belongs to, or None; see docs/conf-divergences.md."""
    (osteps, _), (usteps, _) = ours, theirs
    conf = case.get("conf", "")
    argv = case.get("argv", [])
    uerr = b"".join(s[3] for s in usteps)
    oerr = b"".join(s[3] for s in osteps)
    if any(u[1] == "timeout" and o[1] != "timeout" for o, u in zip(osteps, usteps)):
        return "upstream-hangs"
    if re.search(rb"may not be '\.' or '\.\.'|may not contain '/'|is not valid UTF-8", oerr):
        return "dot-slash-or-undecodable-names"
    if b"Refusing to load" in oerr:
        return "hostile-archive"
    if re.search(rb"^dkms: the running kernel \S+ has no headers here; using the installed kernel", oerr, re.M) and \
            re.search(rb"Your kernel headers for kernel \S+ cannot be found", uerr):
        return "kernels-of-the-root"
    uall = uerr + b"".join(s[2] for s in usteps)
    if b"\xef\xbf\xbd" in oerr + b"".join(s[2] for s in osteps):
        try:
            uall.decode("utf-8")
        except UnicodeDecodeError:
            return "undecodable-bytes-in-messages"
    same_but_stderr = all(o[1] == u[1] and o[2] == u[2] for o, u in zip(osteps, usteps)) and ours[1] == theirs[1]
    if case["kind"] == "conf" and same_but_stderr and re.search(r"^\s*(declare |local |readonly |export |typeset )?IFS(\[[^]]*\])?=", conf, re.M):
        return "ifs-internals"
    if case["kind"] == "conf":
        if re.search(r"^\s*(set -[xv]|kill|trap|PATH=|umask|ulimit|alias|echo\(\)|eval\(\)|printf\(\)|unset -f)", conf, re.M):
            return "shell-state"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", default=os.path.join(REPO, ".build/debug/dkms"))
    ap.add_argument("--upstream", default="/opt/upstream-dkms/bin/dkms")
    ap.add_argument("--confs", type=int, default=50)
    ap.add_argument("--cmds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--seeds-dir", action="append")
    ap.add_argument("--only-case", type=int)
    ap.add_argument("--keep")
    ap.add_argument("--list-documented", action="store_true", help="name each case with a documented divergence")
    ap.add_argument("--show", type=int, default=5, help="print details of this many failing cases")
    args = ap.parse_args()

    if not os.path.isfile(args.upstream):
        print("conf_fuzz: upstream dkms not found at %s: campaign skipped" % args.upstream)
        print("0 passed, 0 failed")
        return
    work = tempfile.mkdtemp(prefix="conf-fuzz.")
    upstream = os.path.join(work, "dkms-upstream")
    shutil.copy(args.upstream, upstream)   # the installed copy may lack the x bit
    os.chmod(upstream, 0o755)
    make_fake_kernel(work)
    # generate_mok writes the machine's MOK pair (/var/lib/dkms/mok.*) when it
    # is missing: whichever of the two ran first would say "generating" and
    # the other not. Make the pair once, before any case, so that both see it.
    if not (os.path.isfile("/var/lib/dkms/mok.key") and os.path.isfile("/var/lib/dkms/mok.pub")):
        subprocess.run([upstream, "generate_mok"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    ours = os.path.join(work, "dkms")   # a copy: a rebuild during the run must not swap it
    shutil.copy(os.path.realpath(args.ours), ours)
    cases = make_cases(args)
    if args.only_case is not None:
        cases = [cases[args.only_case]]
    documented = load_documented()

    template_for(ours)
    template_for(upstream)

    def one(case):
        o = execute(ours, case, args.keep and args.keep + "/ours")
        u = execute(upstream, case, args.keep and args.keep + "/upstream")
        o = ([(a, r, x.replace(ours.encode(), b"@DKMS"), e) for a, r, x, e in o[0]], o[1])
        classes, _ = classify(case, o, u)
        if classes and not set(classes) & {"crash", "hang", "both-hang"}:
            # Upstream is not always deterministic (the order of bash's own
            # messages from a forked command varies): a case whose upstream
            # run, repeated, gives exactly ours is not a divergence.
            for _ in range(2):
                again = execute(upstream, case)
                if not classify(case, o, again)[0]:
                    case["upstream_varies"] = True
                    return case, o, again
        return case, o, u

    stats = {"cases": 0, "passed": 0, "failed": 0, "crash": 0, "hang": 0}
    by_class = {}
    shown = 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for case, o, u in pool.map(one, cases):
            stats["cases"] += 1
            if stats["cases"] % 250 == 0:
                print("conf_fuzz: %d/%d cases, %d failed" % (stats["cases"], len(cases), stats["failed"]),
                      file=sys.stderr, flush=True)
            classes, step = classify(case, o, u)
            if not classes:
                stats["passed"] += 1
                if case.get("upstream_varies"):
                    by_class["upstream-nondeterministic"] = by_class.get("upstream-nondeterministic", 0) + 1
                continue
            if classes == ["both-hang"]:
                by_class["both-hang"] = by_class.get("both-hang", 0) + 1
                stats["passed"] += 1
                continue
            if "crash" in classes or "hang" in classes:
                stats["crash" if "crash" in classes else "hang"] += 1
                key = classes[0]
                ok = False
            else:
                doc = documented_class(case, o, u)
                key = doc or "%s:%s:%s" % (classes[0], case["kind"], "+".join(sorted(set(case["tags"]))))
                ok = doc is not None and doc in documented
            by_class[key] = by_class.get(key, 0) + 1
            if ok:
                stats["passed"] += 1
                if args.list_documented:
                    print("documented divergence: case %d %s" % (case["id"], key))
            else:
                stats["failed"] += 1
            if not ok or args.only_case is not None:
                if shown < args.show:
                    shown += 1
                    print("=== case %d (%s) diverges: %s" % (case["id"], key, classes))
                    if case["kind"] == "conf":
                        print("--- conf:\n" + case["conf"].encode("unicode_escape").decode())
                    s = step if step is not None and step < len(o[0]) else len(o[0]) - 1
                    if step is not None and step == len(o[0]):
                        import difflib
                        print("--- tree diff:")
                        for l in difflib.unified_diff([x.decode("utf-8", "replace") for x in u[1]],
                                                      [x.decode("utf-8", "replace") for x in o[1]], "upstream", "ours", lineterm=""):
                            print(l)
                    else:
                        print("--- step %r" % (o[0][s][0],))
                        print("ours     exit %r\n  stdout %.600r\n  stderr %.900r" % (o[0][s][1], o[0][s][2], o[0][s][3]))
                        print("upstream exit %r\n  stdout %.600r\n  stderr %.900r" % (u[0][s][1], u[0][s][2], u[0][s][3]))
    print("cases: %d (confs %d, command lines %d), seed %d" % (stats["cases"], args.confs, args.cmds, args.seed))
    print("crashes: %d, hangs: %d" % (stats["crash"], stats["hang"]))
    for k in sorted(by_class, key=lambda k: -by_class[k]):
        print("divergence %-50s %5d%s" % (k, by_class[k], "  (documented)" if k in documented else ""))
    shutil.rmtree(work, ignore_errors=True)
    for t in TEMPLATES.values():
        shutil.rmtree(t, ignore_errors=True)
    print("%d passed, %d failed" % (stats["passed"], stats["failed"]))
    sys.exit(1 if stats["failed"] else 0)


if __name__ == "__main__":
    main()
