//! The condition language of `keboola.flow` transitions and variable sources: `const`/`constant`,
//! `phase`, `task`, `variable`, `array`, `operator` (AND, OR, EQUALS, NOT_EQUALS, GREATER_THAN,
//! LESS_THAN, CONTAINS, INCLUDES, ALL_TASKS_IN_PHASE, ANY_TASKS_IN_PHASE) and `function` COUNT.
//! Anything unknown evaluates to null, which no transition takes.
use serde_json::{Value, json};

use super::{FlowState, id_str};
use crate::queue::store;

pub fn eval(c: &Value, fs: &FlowState) -> Value {
    match c["type"].as_str().unwrap_or("") {
        "const" | "constant" => c["value"].clone(),
        "variable" => fs.variables.get(c["value"].as_str().unwrap_or("")).cloned().unwrap_or(Value::Null),
        "array" => Value::Array(operands(c).iter().map(|o| eval(o, fs)).collect()),
        "phase" => {
            let id = id_str(&c["phase"]);
            let p = fs.phases.iter().rev().find(|p| id_str(&p["id"]) == id);
            match (p, c["value"].as_str().unwrap_or("status")) {
                (Some(p), "status" | "job.status") => p["status"].clone(),
                (Some(p), other) => p[other].clone(),
                (None, _) => Value::Null,
            }
        }
        "task" => {
            let id = id_str(&c["task"]);
            let t = fs.tasks.iter().rev().find(|t| t.id == id);
            match (t, c["value"].as_str().unwrap_or("job.status")) {
                (Some(t), "job.status" | "status") => json!(t.status),
                (Some(t), "job.result.message") => json!(t.message),
                (Some(t), path) => {
                    let j = t.job.as_ref().map(store::job_json_light).unwrap_or(Value::Null);
                    path.trim_start_matches("job.").split('.').fold(j, |v, k| v[k].clone())
                }
                (None, _) => Value::Null,
            }
        }
        "function" => {
            let args: Vec<Value> = operands(c).iter().map(|o| eval(o, fs)).collect();
            match c["function"].as_str().unwrap_or("") {
                "COUNT" => json!(args.first().map(|a| a.as_array().map(Vec::len).unwrap_or(if a.is_null() { 0 } else { 1 })).unwrap_or(0)),
                _ => Value::Null,
            }
        }
        "operator" => operator(c, fs),
        _ => Value::Null,
    }
}

fn operands(c: &Value) -> &[Value] {
    c["operands"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn operator(c: &Value, fs: &FlowState) -> Value {
    let op = c["operator"].as_str().unwrap_or("");
    let raw = operands(c);
    if op == "ALL_TASKS_IN_PHASE" || op == "ANY_TASKS_IN_PHASE" {
        // The phase is a `phase` key (the MCP server's model) or, in older configurations, the first operand.
        let (phase, rest) = match c.get("phase").filter(|p| !p.is_null()) {
            Some(p) => (id_str(p), raw),
            None => (raw.first().map(|p| id_str(&eval(p, fs))).unwrap_or_default(), raw.get(1..).unwrap_or(&[])),
        };
        let want = rest.first().map(|v| eval(v, fs)).unwrap_or(json!("success"));
        let statuses: Vec<Value> = fs.tasks.iter().filter(|t| t.phase == phase).map(|t| json!(t.status)).collect();
        let all = !statuses.is_empty() && statuses.iter().all(|s| *s == want);
        return json!(if op == "ALL_TASKS_IN_PHASE" { all } else { statuses.contains(&want) });
    }
    let args: Vec<Value> = raw.iter().map(|o| eval(o, fs)).collect();
    let num = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
    let a = args.first().cloned().unwrap_or(Value::Null);
    let b = args.get(1).cloned().unwrap_or(Value::Null);
    let equal = a == b || (num(&a).is_some() && num(&a) == num(&b));
    let contains = |hay: &Value, needle: &Value| match hay {
        Value::Array(items) => items.contains(needle),
        Value::String(s) => needle.as_str().is_some_and(|x| s.contains(x)),
        _ => false,
    };
    json!(match op {
        "AND" => args.iter().all(|x| *x == json!(true)),
        "OR" => args.iter().any(|x| *x == json!(true)),
        "EQUALS" => equal,
        "NOT_EQUALS" => !equal,
        "GREATER_THAN" => matches!((num(&a), num(&b)), (Some(x), Some(y)) if x > y),
        "LESS_THAN" => matches!((num(&a), num(&b)), (Some(x), Some(y)) if x < y),
        "CONTAINS" | "INCLUDES" => contains(&a, &b),
        _ => false,
    })
}
