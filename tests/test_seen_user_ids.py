"""The import's memory of the userIDs it has read (app/admin/seen_user_ids.py)."""

from app.admin.seen_user_ids import SeenUserIds


def test_first_sightings_across_and_within_batches():
    seen = SeenUserIds()
    try:
        assert seen.first_sightings(["a", "b", "a"]) == [True, True, False]
        assert seen.first_sightings(["c", "b", "c", "d"]) == [True, False, False, True]
        assert seen.first_sightings([]) == []
    finally:
        seen.close()


def test_user_ids_are_compared_exactly():
    odd = ["Bob", "bob", "BOB", 'q"uote', "back\\slash", "😀", "𠀀", "e\u0301", "é", " x", "\u2028"]
    seen = SeenUserIds()
    try:
        assert seen.first_sightings(odd) == [True] * len(odd)
        assert seen.first_sightings(odd[::-1]) == [False] * len(odd)
    finally:
        seen.close()
