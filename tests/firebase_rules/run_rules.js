// Evaluates database.rules.json with targaryen for a list of cases read as JSON from stdin:
// {"rules": path, "data": {...}, "now": ms, "cases": [{name, auth, op: read|write|update, path, value, now?}]}.
// `now` is the server time the rules see (and {".sv": "timestamp"} values become).
// Prints [{name, allowed, info}] as JSON; the verdicts are checked by test_rules.py.
"use strict";
const fs = require("fs");
const targaryen = require("targaryen");

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const rules = JSON.parse(fs.readFileSync(input.rules, "utf8"));
const database = targaryen.database(rules, input.data, input.now).with({ debug: true });

const results = input.cases.map((testCase) => {
  const as = database.as(testCase.auth);
  const now = testCase.now || input.now;
  let result;
  if (testCase.op === "read") {
    result = as.read(testCase.path, now);
  } else if (testCase.op === "write") {
    result = as.write(testCase.path, testCase.value, undefined, now);
  } else if (testCase.op === "update") {
    result = as.update(testCase.path, testCase.value, now);
  } else {
    throw new Error(`unknown operation ${testCase.op}`);
  }
  return { name: testCase.name, allowed: result.allowed, info: result.info };
});
process.stdout.write(JSON.stringify(results));
