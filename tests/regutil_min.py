"""Minimal image push used by the observability tests."""
import hashlib
import json

import requests


def push_blob(url, repo, data, headers=None):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    r = requests.post(f"{url}/v2/{repo}/blobs/uploads/?digest={d}", data=data, timeout=30,
                      headers=headers or {})
    assert r.status_code == 201, r.text
    return d


def push_image(url, repo, tag, headers=None):
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "repo": repo, "tag": tag}).encode()
    layer = b"layer of " + repo.encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": push_blob(url, repo, cfg, headers), "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": push_blob(url, repo, layer, headers), "size": len(layer)}]}).encode()
    r = requests.put(f"{url}/v2/{repo}/manifests/{tag}", data=manifest, timeout=30,
                     headers={**(headers or {}),
                              "Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 201, r.text
    return r.headers["Docker-Content-Digest"]
