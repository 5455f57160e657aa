"""The Lua scripts that release due jobs atomically (one round trip per batch)."""

from __future__ import annotations

MAX_BATCH = 5000
"""Lua's ``unpack`` is bounded (about 8000 values), so one script call handles at most this many."""

RELEASE = """
-- KEYS: scheduled zset, entries hash, claims zset
-- ARGV: now, limit, lease deadline, direct ("1": this poller may push ready-made messages),
--       the concurrency keys' prefix, the early release window (seconds, "0": off), then
--       optionally explicit members (run now) instead of the due range.
local scheduled, entries, claims = KEYS[1], KEYS[2], KEYS[3]
local now, limit, deadline = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local direct = ARGV[4] == '1'
local cprefix = ARGV[5]
local ahead = tonumber(ARGV[6]) or 0

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
  return #out > 0 and out or nil
end

-- "G" values: <len>:<gate json><len>:<parked json><D or E value>. A job whose duplicate is
-- running (its while_executing lock, "running", held by another job) is put off by "delay"
-- seconds and stays here; a job with a limit ("key") takes its concurrency slot as it becomes
-- ready (Solid Queue), or, with the key full, is parked among the key's blocked jobs (as the
-- concurrency ACQUIRE script parks one). Returns the inner value, true when put off, false
-- once parked, nil when malformed.
local blocked, later = {}, {}
local function gate(v, member)
  local fields, pos = {}, 2
  for f = 1, 2 do
    local colon = string.find(v, ':', pos, true)
    if not colon then return nil end
    local len = tonumber(string.sub(v, pos, colon - 1))
    if not len or colon + len > #v then return nil end
    fields[f] = string.sub(v, colon + 1, colon + len)
    pos = colon + len + 1
  end
  local ok, spec = pcall(cjson.decode, fields[1])
  if not ok or type(spec) ~= 'table' or type(spec['job_id']) ~= 'string' then return nil end
  local id, running = spec['job_id'], spec['running']
  if type(running) == 'string' then
    local holder = redis.call('GET', running)
    if holder and holder ~= id then
      later[#later + 1] = tonumber(now) + (tonumber(spec['delay']) or 2)
      later[#later + 1] = member
      return true
    end
  end
  local key, lim = spec['key'], spec['limit']
  if key == nil then return string.sub(v, pos) end
  local to, duration = tonumber(spec['to']), tonumber(spec['duration'])
  if type(key) ~= 'string' or type(lim) ~= 'string' or not to or not duration then
    return nil
  end
  local slots, payloads = cprefix .. ':slots:' .. key, cprefix .. ':payloads'
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
  redis.call('HSET', cprefix .. ':limits', key, lim)
  redis.call('SADD', cprefix .. ':keys', key)
  if redis.call('ZSCORE', slots, id) or redis.call('ZCARD', slots) < to then
    redis.call('ZADD', slots, tonumber(now) + duration, id)
    return string.sub(v, pos)
  end
  if redis.call('HEXISTS', payloads, id) == 0 then
    local seq = redis.call('INCR', cprefix .. ':seq')
    local entry = string.format('%020d', seq) .. ':' .. id
    redis.call('ZADD', cprefix .. ':blocked:' .. key, tonumber(spec['priority']) or 0, entry)
    redis.call('HSET', payloads, id, fields[2])
  end
  blocked[#blocked + 1] = id
  blocked[#blocked + 1] = key
  return false
end

local recovered, due, early, scores = {}, {}, {}, {}
local early_full = false
if #ARGV > 6 then
  for i = 7, #ARGV do
    if redis.call('ZSCORE', scheduled, ARGV[i]) then due[#due + 1] = ARGV[i] end
  end
else
  -- Claims whose lease ran out: their poller died between claim and publish.
  recovered = redis.call('ZRANGEBYSCORE', claims, '-inf', now, 'LIMIT', 0, limit)
  if #recovered < limit then
    due = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now, 'LIMIT', 0, limit - #recovered)
  end
  -- The early window: jobs due within `ahead` seconds go out now with their due time as eta.
  local room = limit - #recovered - #due
  if ahead > 0 and room > 0 then
    local pairs_ = redis.call('ZRANGEBYSCORE', scheduled, '(' .. now,
      string.format('%.6f', tonumber(now) + ahead), 'WITHSCORES', 'LIMIT', 0, room)
    for i = 1, #pairs_, 2 do
      early[#early + 1] = pairs_[i]
      scores[pairs_[i]] = pairs_[i + 1]
    end
    early_full = #early == room
  end
end

-- A run time (epoch seconds) as Celery writes an eta: ISO 8601, UTC, microseconds rounded up
-- (never before the job's time). Days to civil date: Howard Hinnant's algorithm.
local function iso(score)
  local us = math.ceil(tonumber(score) * 1000000)
  local secs = math.floor(us / 1000000)
  local micro, days = us - secs * 1000000, math.floor(secs / 86400)
  local rem = secs - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00', y, m, d,
    math.floor(rem / 3600), math.floor(rem / 60) % 60, rem % 60, micro)
end

-- Each message of an early entry with its `"eta": null` header set to the run time; nil when
-- one has no such header (that entry then waits for its time, as before).
local MARK = '"eta": null'
local function with_eta(parsed, when)
  local out = {}
  for j = 1, #parsed, 2 do
    local message = parsed[j + 1]
    local s, e = string.find(message, MARK, 1, true)
    if not s then return nil end
    out[j] = parsed[j]
    out[j + 1] = string.sub(message, 1, s - 1) .. '"eta": "' .. when .. '"'
      .. string.sub(message, e + 1)
  end
  return out
end

local lists, order, done, handed, claim_args, taken = {}, {}, {}, {}, {}, {}
local pushed = 0
local wake = false
local function later_wake(at)
  if not wake or at < wake then wake = at end
end
local function take(members, is_early)
  if #members == 0 then return end
  local values = redis.call('HMGET', entries, unpack(members))
  for i, member in ipairs(members) do
    local stored = values[i]
    local v = stored
    local when = false
    if is_early then
      -- Only plain entries go early: a gated one takes its slot or lock when due, and a
      -- message without an eta header would run at once. The others wait for their time.
      local kind = v and string.byte(v, 1)
      if kind == 68 and direct then
        local parsed = pushes(v)
        parsed = parsed and with_eta(parsed, iso(scores[member]))
        if parsed then v = parsed else v = nil end
      elseif kind == 69 or kind == 68 then
        when = scores[member]  -- published through Celery by the poller, with this eta
      else
        v = nil
      end
      if v == nil then
        later_wake(tonumber(scores[member]))
      else
        taken[#taken + 1] = member
      end
    end
    if v and type(v) == 'string' and string.byte(v, 1) == 71 then
      local inner = gate(v, member)
      if inner ~= nil then v = inner end
    end
    local parsed = nil
    if type(v) == 'table' then
      parsed = v
    elseif type(v) == 'string' and direct and string.byte(v, 1) == 68 then
      parsed = pushes(v)
    end
    if is_early and v == nil then
      -- stays in the scheduled set, untouched
    elseif v == true then
      -- put off: it stays, with its entry, under the later score given by gate
    elseif v == false then
      done[#done + 1] = member
    elseif parsed then
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
      handed[#handed + 1] = stored
      handed[#handed + 1] = when
      claim_args[#claim_args + 1] = deadline
      claim_args[#claim_args + 1] = member
    else
      done[#done + 1] = member
    end
  end
end
take(recovered, false)
take(due, false)
take(early, true)

for _, key in ipairs(order) do
  each_chunk(lists[key], 1000, function(...) redis.call('LPUSH', key, ...) end)
end
each_chunk(due, 1000, function(...) redis.call('ZREM', scheduled, ...) end)
each_chunk(taken, 1000, function(...) redis.call('ZREM', scheduled, ...) end)
if #done > 0 then
  each_chunk(done, 1000, function(...) redis.call('HDEL', entries, ...) end)
  if #recovered > 0 then
    each_chunk(done, 1000, function(...) redis.call('ZREM', claims, ...) end)
  end
end
each_chunk(claim_args, 2000, function(...) redis.call('ZADD', claims, ...) end)
each_chunk(later, 2000, function(...) redis.call('ZADD', scheduled, ...) end)
for i = 2, #later, 2 do
  redis.call('ZREM', claims, later[i])
end

-- When the next pass has work: the first job past the window, half a window before its time
-- (so each pass takes half a window of jobs, not one); an entry kept out of the window at its
-- own time; at once when the window did not fit in this batch.
local nxt = redis.call('ZRANGEBYSCORE', scheduled, '(' .. string.format('%.6f',
  tonumber(now) + ahead), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if nxt[2] then later_wake(tonumber(nxt[2]) - ahead / 2) end
if ahead <= 0 then
  nxt = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
  wake = nxt[2] and tonumber(nxt[2]) or false
elseif early_full then
  later_wake(tonumber(now))
end
local result = {pushed, wake and string.format('%.6f', wake) or false, blocked, #later / 2}
for _, item in ipairs(handed) do result[#result + 1] = item end
return result
"""
"""Push due ``D`` entries onto their broker lists, claim the rest with a lease; a ``G`` entry
is first put off (a duplicate is running) or takes its concurrency slot or is parked as blocked.
Jobs due within the early window (ARGV 6) go too, ahead of time, with their run time as the
messages' ``eta`` (gated entries and messages without an ``"eta": null`` header wait). Returns
``[pushed, next wake time or nil, [job id, key, ...] parked, put off, member, value, eta or
false, ...]`` for the claimed ones."""

ADD = """
-- KEYS: scheduled zset, entries hash; ARGV: member, value, run time, member, value, ...
-- One HSET and one ZADD per 1 000 entries (applied in order: a repeated member's last wins).
local fields, scores, n = {}, {}, 0
for i = 1, #ARGV, 3 do
  fields[n + 1], fields[n + 2] = ARGV[i], ARGV[i + 1]
  scores[n + 1], scores[n + 2] = ARGV[i + 2], ARGV[i]
  n = n + 2
end
for i = 1, #fields, 2000 do
  local last = math.min(i + 1999, #fields)
  redis.call('HSET', KEYS[2], unpack(fields, i, last))
  redis.call('ZADD', KEYS[1], unpack(scores, i, last))
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
