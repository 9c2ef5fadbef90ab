-- Argo CD health of a caseload.dev object with a status (Team, Practitioner, Case,
-- CaseloadQuota). The operator keeps kstatus conditions: Ready (always), Reconciling and
-- Stalled (only while true). A finding is not a broken resource: a team or practitioner over
-- capacity, an overdue case or a quota with violations is Healthy, with the finding in the
-- message. It uses only what Argo CD opens for a script from argocd-cm (the base, table and
-- package libraries: no string, no math), so it needs no useOpenLibs.
local hs = {}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for caseload-operator to reconcile it"
  return hs
end
local generation = obj.metadata.generation or 0
if obj.status.observedGeneration == nil or obj.status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for caseload-operator to reconcile the latest change"
  return hs
end
local ready, findings = nil, {}
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Stalled" and c.status == "True" then
    hs.status = "Degraded"
    hs.message = c.message
    return hs
  elseif c.type == "Reconciling" and c.status == "True" then
    hs.status = "Progressing"
    hs.message = c.message
    return hs
  elseif c.type == "Ready" then
    ready = c
  elseif c.status == "True" and (c.type == "OverCapacity" or c.type == "NeedsCover" or c.type == "Overdue" or c.type == "PolicyViolated") then
    table.insert(findings, c.message)
  end
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for caseload-operator to reconcile it"
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
  if #findings > 0 then
    hs.message = table.concat(findings, "; ")
  end
else
  hs.status = "Degraded"
  hs.message = ready.message
end
return hs
