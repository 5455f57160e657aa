"""Lua scripts for concurrency slots and unique locks: one round trip per acquire or release.

Keys of one concurrency key ``K`` (under ``activejob_key_prefix``):
``concurrency:slots:K`` (sorted set, holder job id -> expiry), ``concurrency:blocked:K`` (sorted
set, score priority, member ``<seq>:<job id>`` so equal priorities keep their age order), plus
the shared ``concurrency:payloads`` (job id -> parked message), ``concurrency:keys`` (keys in
use), ``concurrency:seq`` and ``concurrency:limits`` (key -> ``to:duration``).
"""

from __future__ import annotations

ACQUIRE = """
-- KEYS: slots, blocked, payloads, keys, seq, limits[, list to push the job's message onto]
-- ARGV: now, expiry, to, job_id, on_conflict, priority, parked, key, duration[, message]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('HSET', KEYS[6], ARGV[8], ARGV[3] .. ':' .. ARGV[9])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  if KEYS[7] then
    redis.call('LPUSH', KEYS[7], ARGV[10])
  end
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  redis.call('SADD', KEYS[4], ARGV[8])
  if KEYS[7] then
    redis.call('LPUSH', KEYS[7], ARGV[10])
  end
  return 1
end
if ARGV[5] ~= 'block' then
  return -1
end
if redis.call('HEXISTS', KEYS[3], ARGV[4]) == 1 then
  return 0
end
local seq = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[2], ARGV[6], string.format('%020d', seq) .. ':' .. ARGV[4])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[7])
redis.call('SADD', KEYS[4], ARGV[8])
return 0
"""
"""1 = slot taken (or already held by this job), 0 = parked as blocked, -1 = conflict.

With a list key and a message, taking the slot also pushes the job's message (one step)."""

RELEASE = """
-- KEYS: slots, blocked, payloads, keys, seq, limits, handed
-- ARGV: now, job_id ('' for a maintenance pass), key, lease deadline of the handed jobs
if ARGV[2] ~= '' then
  redis.call('ZREM', KEYS[1], ARGV[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local known = redis.call('HGET', KEYS[6], ARGV[3]) or '1:180'
local sep = string.find(known, ':', 1, true)
local limit = tonumber(string.sub(known, 1, sep - 1))
local expiry = tonumber(ARGV[1]) + tonumber(string.sub(known, sep + 1))
local free = limit - redis.call('ZCARD', KEYS[1])
local out = {}
while free > 0 do
  local first = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #first == 0 then
    break
  end
  redis.call('ZREM', KEYS[2], first[1])
  local id = string.sub(first[1], 22)
  local parked = redis.call('HGET', KEYS[3], id)
  if parked then
    -- Kept until its publish is acknowledged (ACK_HANDED): a caller that dies in between
    -- leaves it to RECOVER_HANDED once the lease runs out.
    redis.call('ZADD', KEYS[7], ARGV[4], id)
    redis.call('ZADD', KEYS[1], expiry, id)
    table.insert(out, parked)
    free = free - 1
  end
end
if redis.call('ZCARD', KEYS[2]) == 0 and redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[3])
end
return out
"""
"""Frees the job's slot and expired ones; returns the parked messages that now hold a slot.

They stay in ``payloads``, listed in ``concurrency:handed`` with a lease, until published."""

ACK_HANDED = """
-- KEYS: handed, payloads; ARGV: job ids published (or kept as dead letters)
for i = 1, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
end
return #ARGV
"""
"""Forget unblocked jobs once they are published."""

RECOVER_HANDED = """
-- KEYS: handed, payloads; ARGV: now, new lease deadline
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
local out = {}
for _, id in ipairs(ids) do
  local parked = redis.call('HGET', KEYS[2], id)
  if parked then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    table.insert(out, parked)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""
"""Unblocked jobs whose publisher died before acknowledging them: handed out again."""

UNIQUE_ACQUIRE = """
-- KEYS: lock[, list to push the job's message onto]; ARGV: job_id, ttl ms[, message]
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  if KEYS[2] then
    redis.call('LPUSH', KEYS[2], ARGV[3])
  end
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if KEYS[2] then
    redis.call('LPUSH', KEYS[2], ARGV[3])
  end
  return 1
end
return 0
"""
"""1 = the lock is this job's (taken or refreshed; the message pushed if given), 0 = not."""

UNIQUE_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
"""Deletes the lock only if this job holds it."""
