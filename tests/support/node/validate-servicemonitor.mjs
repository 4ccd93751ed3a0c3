// Validate ServiceMonitors (a JSON list on stdin) with the Prometheus Operator schema; prints a JSON list of errors (null = valid).
import { readFileSync } from "node:fs";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
const errors = [];
for (const obj of JSON.parse(readFileSync(0, "utf8"))) {
  try { new ServiceMonitor(obj).validate(); errors.push(null); } catch (e) { errors.push(String(e.message || e)); }
}
console.log(JSON.stringify(errors));
