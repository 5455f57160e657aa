"""The Lua scripts that release due jobs atomically (one round trip per batch)."""

from __future__ import annotations

MAX_BATCH = 5000
"""Lua's ``unpack`` is bounded (about 8000 values), so one script call handles at most this many."""

RELEASE = """
-- KEYS: scheduled zset, entries hash, claims zset
-- ARGV: now, limit, lease deadline, direct ("1": this poller may push ready-made messages),
--       then optionally explicit members (run now) instead of the due range.
local scheduled, entries, claims = KEYS[1], KEYS[2], KEYS[3]
local now, limit, deadline = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local direct = ARGV[4] == '1'

local function each_chunk(list, size, fn)
  for i = 1, #list, size do
    fn(unpack(list, i, math.min(i + size - 1, #list)))
  end
end

-- "D" values: <len>:<list key><len>:<message>, repeated. nil when malformed.
local function pushes(v)
  local out, pos, n = {}, 2, #v
  while pos <= n do
    local fields = {}
    for f = 1, 2 do
      local colon = string.find(v, ':', pos, true)
      if not colon then return nil end
      local len = tonumber(string.sub(v, pos, colon - 1))
      if not len or colon + len > n then return nil end
      fields[f] = string.sub(v, colon + 1, colon + len)
      pos = colon + len + 1
    end
    out[#out + 1] = fields[1]
    out[#out + 1] = fields[2]
  end
  if #out == 0 then return nil end
  return out
end

local recovered, due = {}, {}
if #ARGV > 4 then
  for i = 5, #ARGV do
    if redis.call('ZSCORE', scheduled, ARGV[i]) then due[#due + 1] = ARGV[i] end
  end
else
  -- Claims whose lease ran out: their poller died between claim and publish.
  recovered = redis.call('ZRANGEBYSCORE', claims, '-inf', now, 'LIMIT', 0, limit)
  if #recovered < limit then
    due = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now, 'LIMIT', 0, limit - #recovered)
  end
end

local lists, order, done, handed, claim_args = {}, {}, {}, {}, {}
local pushed = 0
local function take(members)
  if #members == 0 then return end
  local values = redis.call('HMGET', entries, unpack(members))
  for i, member in ipairs(members) do
    local v = values[i]
    local parsed = nil
    if v and direct and string.byte(v, 1) == 68 then parsed = pushes(v) end
    if parsed then
      for j = 1, #parsed, 2 do
        local key = parsed[j]
        if not lists[key] then lists[key] = {}; order[#order + 1] = key end
        local list = lists[key]
        list[#list + 1] = parsed[j + 1]
      end
      pushed = pushed + 1
      done[#done + 1] = member
    elseif v then
      handed[#handed + 1] = member
      handed[#handed + 1] = v
      claim_args[#claim_args + 1] = deadline
      claim_args[#claim_args + 1] = member
    else
      done[#done + 1] = member
    end
  end
end
take(recovered)
take(due)

for _, key in ipairs(order) do
  each_chunk(lists[key], 1000, function(...) redis.call('LPUSH', key, ...) end)
end
each_chunk(due, 1000, function(...) redis.call('ZREM', scheduled, ...) end)
if #done > 0 then
  each_chunk(done, 1000, function(...) redis.call('HDEL', entries, ...) end)
  if #recovered > 0 then
    each_chunk(done, 1000, function(...) redis.call('ZREM', claims, ...) end)
  end
end
each_chunk(claim_args, 2000, function(...) redis.call('ZADD', claims, ...) end)

local nxt = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
local result = {pushed, nxt[2] or false}
for _, item in ipairs(handed) do result[#result + 1] = item end
return result
"""
"""Push due ``D`` entries onto their broker lists, claim the rest with a lease; returns
``[pushed, next score or nil, member, value, member, value, ...]`` for the claimed ones."""

ADD = """
-- KEYS: scheduled zset, entries hash; ARGV: member, value, run time, member, value, ...
for i = 1, #ARGV, 3 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[1], ARGV[i + 2], ARGV[i])
end
return #ARGV / 3
"""
"""Store entries: one command per call, and atomic, so no member is ever without its entry."""

ACK = """
-- KEYS: entries hash, claims zset; ARGV: member, value, member, value ... published by this poller
for i = 1, #ARGV, 2 do
  redis.call('ZREM', KEYS[2], ARGV[i])
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return #ARGV / 2
"""
"""Forget claimed entries once they are published; an entry stored again meanwhile under the
same member (a worker's retry keeps its task id) is a new enqueue and stays."""
