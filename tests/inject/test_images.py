"""Image references as the distribution API needs them."""

import pytest

from downstream_sync.inject.images import parse_ref

DIGEST = "sha256:" + "0" * 64


@pytest.mark.parametrize("image, parts", [
    ("node-example", ("docker.io", "library/node-example", None, None)),
    ("node-example:v1", ("docker.io", "library/node-example", "v1", None)),
    ("user/app", ("docker.io", "user/app", None, None)),
    ("index.docker.io/user/app:1", ("docker.io", "user/app", "1", None)),
    ("localhost/app", ("localhost", "app", None, None)),
    ("127.0.0.1:5000/team/app:v2@" + DIGEST, ("127.0.0.1:5000", "team/app", "v2", DIGEST)),
    ("gcr.io/p/app@" + DIGEST, ("gcr.io", "p/app", None, DIGEST)),
])
def test_parse(image, parts):
    ref = parse_ref(image)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == parts
    assert ref.reference == (parts[3] or parts[2] or "latest")


@pytest.mark.parametrize("image", ["", "has space", "App:1", "app:", "app@sha256:short"])
def test_not_references(image):
    with pytest.raises(ValueError):
        parse_ref(image)
