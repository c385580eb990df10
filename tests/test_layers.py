"""The include graph keeps to the layers of docs/ARCHITECTURE.md: every `#include "..."` of our
own code points to the file's own folder or a folder below it, never up.

The build enforces the same picture (each folder's library compiles against a view of only the
folders it may see, meson.build's `views`); this test states the picture once more on its own,
checks every source file against it, and checks that the build's views grant no more than it.
"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Each layer and the layers below it that it may include, besides itself.
STORAGE = {"base", "index", "s3", "remote", "blob", "core", "archive"}
BELOW = {
    "base": set(),
    "index": {"base"},
    "s3": {"base"},
    "remote": {"base"},
    "blob": {"base", "index", "s3"},
    "core": {"base", "index", "s3", "remote", "blob"},
    "archive": {"base", "index", "s3", "remote", "blob", "core"},
    "auth": STORAGE,
    "http": STORAGE | {"auth"},
    "oci": STORAGE | {"auth", "http"},
    "ecr": STORAGE | {"auth", "http"},
    "console": STORAGE | {"auth", "http"},
    "routes": STORAGE | {"auth", "http", "oci", "ecr", "console"},
    "cli": STORAGE | {"auth", "http", "oci", "ecr", "console", "routes"},
}
FOLDER_LAYER = {
    "storage/base": "base",
    "storage/index": "index",
    "storage/s3": "s3",
    "storage/remote": "remote",
    "storage/blob": "blob",
    "storage/archive": "archive",
    "storage": "core",
    "auth": "auth",
    "server/http": "http",
    "server/oci": "oci",
    "server/ecr": "ecr",
    "server/console": "console",
    "server": "routes",
    "server/cli": "cli",
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path):
    """The layer of a repository-relative file path, or None for files outside the layers."""
    return FOLDER_LAYER.get(str(pathlib.PurePosixPath(path).parent))


def source_files():
    for top in ("storage", "auth", "server"):
        for path in sorted((ROOT / top).rglob("*.[ch]")):
            yield path.relative_to(ROOT).as_posix(), path.read_text(errors="replace")


def upward_edges(files):
    """(file, included header) for every include that leaves the allowed picture."""
    bad = []
    for path, text in files:
        own = layer_of(path)
        for header in INCLUDE.findall(text):
            target = layer_of(header)
            if own is None or target is None or (target != own and target not in BELOW[own]):
                bad.append((path, header))
    return bad


def test_every_source_file_belongs_to_a_layer():
    strays = [path for path, _ in source_files() if layer_of(path) is None]
    assert not strays, f"files outside every layer folder (add the folder to the picture): {strays}"


def test_no_include_points_up_the_layers():
    bad = upward_edges(source_files())
    assert not bad, "includes that point up the layers (see docs/ARCHITECTURE.md): " + ", ".join(
        f"{path} -> {header}" for path, header in bad)


def test_an_upward_include_is_reported():
    # The checker itself: a storage file reaching the server, and the index reaching the blob
    # store above it, are both caught; a downward include is not.
    files = [("storage/index/index.c", '#include "server/http/http.h"\n'
                                       '#include "storage/blob/blobstore.h"\n'
                                       '#include "storage/base/buf.h"\n')]
    assert upward_edges(files) == [("storage/index/index.c", "server/http/http.h"),
                                   ("storage/index/index.c", "storage/blob/blobstore.h")]


def build_views():
    """meson.build's views: {library: [folder, ...]}."""
    text = (ROOT / "meson.build").read_text()
    body = re.search(r"^views = \{(.*?)^\}", text, re.S | re.M).group(1)
    return {lib: re.findall(r"'([^']+)'", folders)
            for lib, folders in re.findall(r"'(\w+)'\s*:\s*\[([^\]]*)\]", body)}


def layers_of_view(folders):
    seen = set()
    for folder in folders:
        if folder.endswith("/."):
            seen.add(FOLDER_LAYER[folder[:-2]])
        else:
            seen |= {layer for name, layer in FOLDER_LAYER.items()
                     if name == folder or name.startswith(folder + "/")}
    return seen


def test_the_build_grants_no_library_more_than_the_picture():
    views = build_views()
    assert set(views) == set(BELOW), f"meson.build's views name other libraries: {sorted(views)}"
    for lib, folders in views.items():
        extra = layers_of_view(folders) - BELOW[lib] - {lib}
        assert not extra, f"meson.build lets {lib} include {sorted(extra)}, above it"
