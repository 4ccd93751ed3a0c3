-- Argo CD health check for serving.predictorapi.dev/PredictorAPI.
-- Runs in Argo CD's Lua 5.1 sandbox (gopher-lua: base and table libraries only), so it uses
-- neither the string, math, os nor io libraries. Copied verbatim into argocd/argocd-cm.yaml.
local hs = {}
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

local function waiting()
  hs.status = "Progressing"
  if generation ~= nil then
    hs.message = "Waiting for the operator to observe generation " .. generation
  else
    hs.message = "Waiting for the operator to observe the PredictorAPI"
  end
  return hs
end

local function behind(observed)
  return generation ~= nil and (observed == nil or observed < generation)
end

local function text(condition, fallback)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  if condition.reason ~= nil and condition.reason ~= "" then
    return condition.reason
  end
  return fallback
end

local status = obj.status
if status == nil or behind(status.observedGeneration) then
  return waiting()
end

local conditions = {}
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type ~= nil then
      if condition.observedGeneration ~= nil and behind(condition.observedGeneration) then
        return waiting()
      end
      conditions[condition.type] = condition
    end
  end
end

local degraded = conditions["Degraded"]
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = text(degraded, "The PredictorAPI is degraded")
  return hs
end

local ready = conditions["Ready"]
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready, "")
  return hs
end

-- A canary paused on an inconclusive analysis (too few requests to judge) waits for someone: Suspended,
-- as Argo CD reports a paused Rollout. Any other canary step is Progressing; an aborted canary is Degraded
-- (CanaryAborted, above). The Rollout child keeps Argo CD's own Rollout health.
local progressing = conditions["Progressing"]
if progressing ~= nil and progressing.status == "True" then
  if progressing.reason == "CanaryWaiting" then
    hs.status = "Suspended"
  else
    hs.status = "Progressing"
  end
  hs.message = text(progressing, "Rolling out")
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = text(ready, "Waiting for the PredictorAPI to become ready")
else
  hs.message = "Waiting for the PredictorAPI to become ready"
end
return hs
