"""The Lua scripts that write OpenIM's token hashes, and the watermark key beside each hash.

A script runs on Redis as one command: what it reads and writes, no other
client sees half done. Each touches one hash and, where it has one, the
hash's watermark, which lies in the hash's slot so that a cluster runs it
too. app/storage/openim_redis.py runs them; why each write comes when it
does is app/rules/token_mirror.py's.

The watermark (`UID_PID_TOKEN_STATUS:watermark:{<the hash's key>}`) holds the
latest issue second among the hash's tokens whose records a kick or delete
reached. An issue of a token of that second or before does not write its
field 0 itself: the token door settles it under the record's lock. It lasts
as long as the tokens it covers.
"""

KEY_PREFIX = "UID_PID_TOKEN_STATUS:"  # OpenIM's cachekey: the hashes' keys
WATERMARK_PREFIX = f"{KEY_PREFIX}watermark:"

# Raise KEYS[2] (the watermark) to the second ARGV[1], and keep it at least ARGV[2] seconds.
_RAISE = """
local function raise(watermark, second, seconds)
  local ttl = redis.call('TTL', watermark)
  local reached = tonumber(redis.call('GET', watermark) or '-1')
  if tonumber(second) > reached then
    redis.call('SET', watermark, second)
  end
  redis.call('EXPIRE', watermark, math.max(ttl, tonumber(seconds)))
end
"""

# KEYS[1] the hash, KEYS[2] its watermark (none: every issue is settled); ARGV: the token,
# its lifetime, its issue second, the cache topic ("" for none), the changed keys as JSON.
# Returns {1 if the field was written 0 else 0, the hash's fields before}. The PUBLISH
# runs on the hash's own node after the write, so no subscriber hears of the key before
# the write is there (on a cluster too).
ISSUE = """
local before = redis.call('HGETALL', KEYS[1])
local own = redis.call('HGET', KEYS[1], ARGV[1])
if (own and own ~= '0') or not KEYS[2] or tonumber(redis.call('GET', KEYS[2]) or '-1') >= tonumber(ARGV[3]) then
  return {0, before}
end
redis.call('HSET', KEYS[1], ARGV[1], '0')
redis.call('EXPIRE', KEYS[1], ARGV[2])
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
return {1, before}
"""

# KEYS[1] the hash, KEYS[2] its watermark; ARGV: the second, the seconds to keep it.
# The watermark first: an issue that writes its field after this read settles instead.
RAISE_AND_READ = (
    _RAISE
    + """
raise(KEYS[2], ARGV[1], ARGV[2])
return redis.call('HGETALL', KEYS[1])
"""
)

# KEYS[1] the hash; ARGV: the cache topic, the key as JSON, then the fields to set 2.
# Only those still there: a field removed meanwhile is not made again without an expiry.
KICK_FIELDS = """
for i = 3, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[1], ARGV[i], '2')
  end
end
if ARGV[1] ~= '' then
  redis.call('PUBLISH', ARGV[1], ARGV[2])
end
"""

# KEYS[1] the hash, KEYS[2] its watermark; ARGV: the second, the seconds to keep it,
# the cache topic, the key as JSON. The watermark first, in the same step as the DEL.
RAISE_AND_DELETE = (
    _RAISE
    + """
raise(KEYS[2], ARGV[1], ARGV[2])
redis.call('DEL', KEYS[1])
if ARGV[3] ~= '' then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
"""
)


def watermark_key(key: str, cluster: bool) -> str | None:
    """The watermark of the hash `key`, in its slot; None on a cluster where no such name lies in it.

    A hash tag `{…}` holding the whole key puts the watermark in the key's
    slot, unless the key has a `}` (a userID's): then the key's own first
    tag, if it has one, is kept by a suffix. Any other key (a `}` and no
    tag) has no watermark, and each of its issues is settled.
    """
    tagged = f"{WATERMARK_PREFIX}{{{key}}}"
    if not cluster:
        return tagged
    for candidate in (tagged, f"{key}:watermark"):
        if _slot(candidate) == _slot(key):
            return candidate
    return None


def _slot(key: str) -> int:
    from redis.crc import key_slot

    return key_slot(key.encode("utf-8"))
