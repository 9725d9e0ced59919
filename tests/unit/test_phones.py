"""The Lee & Hon folding table applied to all 61 TIMIT labels."""

import pytest

from asr_lstm.data.phones import timit_phone_map

TIMIT61 = (
    "aa ae ah ao aw ax ax-h axr ay b bcl ch d dcl dh dx eh el em en eng epi er ey f g gcl h# hh hv ih ix iy "
    "jh k kcl l m n ng nx ow oy p pau pcl q r s sh t tcl th uh uw ux v w y z zh"
).split()
FOLDED39 = (
    "aa ae ah aw ay b ch d dh dx eh er ey f g hh ih iy jh k l m n ng ow oy p r s sh sil t th uh uw v w y z".split()
)


def test_the_61_labels():
    assert timit_phone_map().phones61 == sorted(TIMIT61)
    assert len(TIMIT61) == 61


def test_folding_all_61_labels_to_39():
    folded = timit_phone_map().fold(TIMIT61, "39")
    assert len(folded) == 60  # q is deleted
    assert sorted(set(folded)) == FOLDED39


@pytest.mark.parametrize(
    "phone, to48, to39",
    [
        ("ao", "ao", "aa"),
        ("ax-h", "ax", "ah"),
        ("axr", "er", "er"),
        ("el", "el", "l"),
        ("em", "m", "m"),
        ("en", "en", "n"),
        ("eng", "ng", "ng"),
        ("nx", "n", "n"),
        ("hv", "hh", "hh"),
        ("ix", "ix", "ih"),
        ("ux", "uw", "uw"),
        ("zh", "zh", "sh"),
        ("bcl", "vcl", "sil"),
        ("pcl", "cl", "sil"),
        ("epi", "epi", "sil"),
        ("pau", "sil", "sil"),
        ("h#", "sil", "sil"),
        ("iy", "iy", "iy"),
    ],
)
def test_standard_mappings(phone, to48, to39):
    pm = timit_phone_map()
    assert pm.fold([phone], "48") == [to48]
    assert pm.fold([phone], "39") == [to39]


def test_48_set_has_48_phones_and_deletes_q():
    folded = timit_phone_map().fold(TIMIT61, "48")
    assert len(set(folded)) == 48 and "q" not in folded


def test_61_is_identity_and_unknown_labels_are_refused():
    pm = timit_phone_map()
    assert pm.fold(["q", "h#"], "61") == ["q", "h#"]
    with pytest.raises(KeyError, match="unknown TIMIT phone 'xx'"):
        pm.fold(["aa", "xx"], "39")
    with pytest.raises(ValueError, match="folding must be one of"):
        pm.fold(["aa"], "40")
