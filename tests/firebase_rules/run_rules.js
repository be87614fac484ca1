// Evaluates database.rules.json with targaryen for a list of cases read as JSON from stdin:
// {"rules": path, "data": {...}, "cases": [{name, auth, op: read|write|update, path, value}]}.
// Prints [{name, allowed, info}] as JSON; the verdicts are checked by test_rules.py.
"use strict";
const fs = require("fs");
const targaryen = require("targaryen");

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const rules = JSON.parse(fs.readFileSync(input.rules, "utf8"));
const database = targaryen.database(rules, input.data).with({ debug: true });

const results = input.cases.map((testCase) => {
  const as = database.as(testCase.auth);
  let result;
  if (testCase.op === "read") {
    result = as.read(testCase.path);
  } else if (testCase.op === "write") {
    result = as.write(testCase.path, testCase.value);
  } else if (testCase.op === "update") {
    result = as.update(testCase.path, testCase.value);
  } else {
    throw new Error(`unknown operation ${testCase.op}`);
  }
  return { name: testCase.name, allowed: result.allowed, info: result.info };
});
process.stdout.write(JSON.stringify(results));
