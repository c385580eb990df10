#!/usr/bin/env python3
"""include_trees.py - build each library's view of the source tree, so that an include pointing
up the layers does not compile (docs/ARCHITECTURE.md, "Layers").

    include_trees.py SRC OUT STAMP LIB=FOLDER,FOLDER... ...

For every LIB it makes OUT/LIB/ holding symbolic links to just the folders LIB may include:
"storage/base" links that folder, "storage" links the whole of storage/, and "storage/." links
only the headers that sit in storage/ itself (the registry core, without its subfolders). The
library is then compiled with -I OUT/LIB and nothing else of ours, so `#include
"storage/archive/tar.h"` from a library whose view lacks storage/archive is "No such file".
Run by the build every time (cheap); links that are no longer wanted are removed."""
import os
import sys


def wanted_links(src, folders):
    """{path inside the view: target} for one library's list of folders."""
    links = {}
    for folder in folders:
        if folder.endswith('/.'):
            base = folder[:-2]
            for name in sorted(os.listdir(os.path.join(src, base))):
                if name.endswith('.h'):
                    links[os.path.join(base, name)] = os.path.join(src, base, name)
        else:
            links[folder] = os.path.join(src, folder)
    return links


def current_links(view):
    """Every symbolic link below `view`, as {relative path: target}."""
    found = {}
    for root, dirs, files in os.walk(view):
        for name in dirs + files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                found[os.path.relpath(path, view)] = os.readlink(path)
    return found


def sync_view(src, view, folders):
    want = wanted_links(src, folders)
    have = current_links(view)
    for rel, target in have.items():
        if want.get(rel) != target:
            os.unlink(os.path.join(view, rel))
    for rel, target in want.items():
        if have.get(rel) != target:
            path = os.path.join(view, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.symlink(target, path)


def main(argv):
    src, out, stamp = argv[1], argv[2], argv[3]
    for spec in argv[4:]:
        lib, _, folders = spec.partition('=')
        sync_view(os.path.abspath(src), os.path.join(out, lib), folders.split(','))
    with open(stamp, 'w') as f:
        f.write('/* include views are up to date (scripts/include_trees.py) */\n')


if __name__ == '__main__':
    main(sys.argv)
