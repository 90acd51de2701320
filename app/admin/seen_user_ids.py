"""The userIDs an import has read so far, kept on disk so that memory does not grow with the file.

To tell a userID repeated within one file (the file's mistake, reported on
its line) from one that was in the database already, the import must
remember every userID it has read: about 100 bytes each in a Python set, so
a 10-million-row file would need a gigabyte. A private temporary SQLite
database (an empty file name: on disk, deleted when closed) keeps them in a
B-tree, with a few megabytes of page cache in memory.
"""

import json
import sqlite3

# One statement per batch: the batch's userIDs as a JSON array, inserted unless
# already there; RETURNING names those inserted now, each once (needs SQLite 3.35).
# ("WHERE true" tells SQLite's parser that ON CONFLICT is the upsert's.)
REMEMBER = "INSERT INTO seen SELECT value FROM json_each(?) WHERE true ON CONFLICT DO NOTHING RETURNING user_id"


class SeenUserIds:
    def __init__(self):
        self._database = sqlite3.connect("", isolation_level=None)
        # A scratch set: nothing to recover after a crash.
        self._database.execute("PRAGMA journal_mode = OFF")
        self._database.execute("PRAGMA synchronous = OFF")
        self._database.execute("CREATE TABLE seen (user_id TEXT PRIMARY KEY) WITHOUT ROWID")

    def first_sightings(self, user_ids: list[str]) -> list[bool]:
        """For each of `user_ids`, whether it is seen for the first time (here or in an earlier call)."""
        # ensure_ascii=False: the text as it is (userIDs hold no control characters).
        new = {user_id for (user_id,) in self._database.execute(REMEMBER, (json.dumps(user_ids, ensure_ascii=False),))}
        first = []
        for user_id in user_ids:
            first.append(user_id in new)
            new.discard(user_id)  # a second time in this batch is a repeat
        return first

    def close(self) -> None:
        self._database.close()
