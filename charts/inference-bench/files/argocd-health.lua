-- Argo CD health of an InferenceBenchmark: the value of the argocd-cm key
-- resource.customizations.health.inferencebench.dev_InferenceBenchmark (see ../README.md).
-- A benchmark is a bounded run, so its result is its health: Healthy once the run of the
-- current spec succeeded (and met its SLO objectives, when spec.report.slo sets some),
-- Degraded when it failed, missed an objective or the spec was refused, Progressing until
-- then. Tested against statuses the operator writes (operator/tests/chart*.rs).
local hs = {status = "Progressing", message = "Waiting for the operator"}
if obj.status == nil then
  return hs
end
-- Conditions written for an older spec say nothing about the current one (the operator
-- observes every generation, so this only lasts until its next reconcile).
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  hs.message = "Waiting for the operator to observe generation " .. obj.metadata.generation
  return hs
end
local conditions = {}
for _, condition in ipairs(obj.status.conditions or {}) do
  conditions[condition.type] = condition
end
local function describe(condition)
  local reason = condition.reason or ""
  local message = condition.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  return reason .. message
end
local accepted = conditions["Accepted"]
local succeeded = conditions["Succeeded"]
local slo = conditions["SLOMet"]
if accepted ~= nil and accepted.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(accepted)
elseif slo ~= nil and slo.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(slo)
elseif succeeded ~= nil and succeeded.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(succeeded)
elseif succeeded ~= nil and succeeded.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(succeeded)
else
  local running = conditions["Running"]
  if running ~= nil and running.status == "True" then
    hs.message = describe(running)
  elseif succeeded ~= nil then
    hs.message = describe(succeeded)
  end
end
return hs
