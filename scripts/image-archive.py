#!/usr/bin/env python3
"""image-archive.py: write a directory tree as a one-layer container image archive.

    image-archive.py ROOTFS REF OUT.tar [--arch ARCH] [--entrypoint JSON] [--cmd JSON]
                     [--user USER] [--env K=V ...] [--label K=V ...]

The archive has the layout `docker save` writes (manifest.json, the image config and one
uncompressed layer.tar), which `ctr images import` reads. There is no docker engine and no
registry on the test machines, so the test node's stand-in images are written by this script
from trees that debootstrap and dpkg made.

Why it is written this way:
- ownership and modes are kept as they are in the tree (the tree was made as root, so a file
  that a package gives to its own user stays that user's in the image);
- the contents of /proc, /sys and /dev are left out: the runtime mounts its own there;
- names are sorted and every mtime is 0, so the same tree always gives the same layer digest
  and the same image ID;
- hard links stay hard links; sockets and fifos are skipped (no package ships one).
Standard library only: it runs on the python3 any Debian machine has.
"""

import argparse
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile

# Directories the container runtime mounts over: keep them, leave their contents out.
RUNTIME_MOUNTS = ("proc", "sys", "dev")


class HashingWriter:
    """A file object that writes through and keeps a sha256 of what passed."""

    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def tell(self):
        return self.size


def walk_sorted(root):
    """Yield (path relative to root, absolute path) in a stable order, parents first."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        skip_children = rel_dir in RUNTIME_MOUNTS
        names = sorted(dirnames + filenames)
        if skip_children:
            dirnames[:] = []
            names = []
        for name in names:
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            yield rel, full


def write_layer(root, out):
    """Write ROOT as an uncompressed tar to the binary file OUT; return (sha256 hex, size)."""
    hashing = HashingWriter(out)
    links = {}  # (st_dev, st_ino) -> first archived name, for hard links
    with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, full in walk_sorted(root):
            st = os.lstat(full)
            if stat.S_ISSOCK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
                continue
            info = tarfile.TarInfo(rel)
            info.mode = stat.S_IMODE(st.st_mode)
            info.uid, info.gid = st.st_uid, st.st_gid
            info.uname = info.gname = ""
            info.mtime = 0
            key = (st.st_dev, st.st_ino)
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and key in links:
                info.type = tarfile.LNKTYPE
                info.linkname = links[key]
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                links.setdefault(key, rel)
                info.size = st.st_size
                with open(full, "rb") as data:
                    tar.addfile(info, data)
            elif stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(full)
                tar.addfile(info)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                tar.addfile(info)
    return hashing.digest.hexdigest(), hashing.size


def key_values(pairs, what):
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            sys.exit(f"image-archive: {what} {pair!r} is not KEY=VALUE")
        result[key] = value
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rootfs")
    parser.add_argument("ref", help="full reference, e.g. docker.io/bitcoin/bitcoin:31.1")
    parser.add_argument("out")
    parser.add_argument("--arch", default="amd64")
    parser.add_argument("--entrypoint", type=json.loads)
    parser.add_argument("--cmd", type=json.loads)
    parser.add_argument("--user", default="")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--label", action="append", default=[])
    args = parser.parse_args()
    if not os.path.isdir(args.rootfs):
        sys.exit(f"image-archive: {args.rootfs} is not a directory")

    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    env.update(key_values(args.env, "--env"))
    out_dir = os.path.dirname(os.path.abspath(args.out))
    # The layer goes to a temporary file next to the output: it can be hundreds of MB.
    with tempfile.TemporaryFile(dir=out_dir) as layer:
        layer_sha, layer_size = write_layer(args.rootfs, layer)
        config = {
            "architecture": args.arch,
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {
                "Env": [f"{k}={v}" for k, v in env.items()],
                "User": args.user,
                "WorkingDir": "/",
                "Labels": key_values(args.label, "--label"),
            },
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_sha}"]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "openlsp scripts/image-archive.py"}],
        }
        if args.entrypoint is not None:
            config["config"]["Entrypoint"] = args.entrypoint
        if args.cmd is not None:
            config["config"]["Cmd"] = args.cmd
        config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        layer_name = f"{layer_sha}/layer.tar"
        manifest = json.dumps([{"Config": config_name, "RepoTags": [args.ref], "Layers": [layer_name]}]).encode()

        tmp_out = args.out + ".tmp"
        with tarfile.open(tmp_out, mode="w", format=tarfile.PAX_FORMAT) as archive:
            def member(name, size, mode=0o644, kind=tarfile.REGTYPE):
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.type, info.mtime = size, mode, kind, 0
                return info

            archive.addfile(member(layer_sha, 0, 0o755, tarfile.DIRTYPE))
            layer.seek(0)
            archive.addfile(member(layer_name, layer_size), layer)
            for name, data in ((config_name, config_bytes), ("manifest.json", manifest)):
                archive.addfile(member(name, len(data)), io.BytesIO(data))
        os.replace(tmp_out, args.out)
    print(f"{args.ref} sha256:{config_name[:-5]} layer {layer_size // (1 << 20)} MiB", file=sys.stderr)


if __name__ == "__main__":
    main()
