//! JSON on the host: the checks every JSON text from the guest passes
//! (callback arguments, results) and JSON Schema validation of callback
//! arguments, for the C side (declared in src/internal.h, used by
//! src/callbacks.c and src/sandbox.c).
//!
//! Why here: the guest is hostile, so its JSON is parsed and judged on the
//! host, with well-kept libraries rather than a parser of our own:
//! `serde_json` for syntax (its recursion limit of 128 bounds nesting, so a
//! deep text cannot exhaust the host's stack) and the `jsonschema` crate for
//! schemas (drafts 4, 6, 7, 2019-09 and 2020-12; the schema itself is checked
//! against its meta-schema when it is compiled).
//!
//! Refused at compile time, never ignored: keywords the draft does not
//! define (`"minimun"` would otherwise be an annotation that checks
//! nothing), and `$ref`s to other documents (no HTTP or file resolution is
//! built in, so a schema must be self-contained).
//!
//! Errors are written as NUL-terminated UTF-8 into a buffer the caller owns
//! (truncated at a character boundary), so no allocation crosses the
//! boundary. No function panics across it: every entry point catches
//! unwinding and reports it as an error.
use jsonschema::{Draft, Validator};
use serde_json::Value;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A compiled schema, owned by the C side through `eryx__schema_free`.
pub struct Schema {
    validator: Validator,
}

pub(crate) fn write_msg(buf: *mut c_char, cap: usize, msg: &str) {
    if buf.is_null() || cap == 0 {
        return;
    }
    let mut n = msg.len().min(cap - 1);
    while n > 0 && !msg.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: the caller gives `cap` writable bytes at `buf`.
    unsafe {
        std::ptr::copy_nonoverlapping(msg.as_ptr(), buf as *mut u8, n);
        *buf.add(n) = 0;
    }
}

fn bytes<'a>(p: *const c_char, len: usize) -> &'a [u8] {
    if p.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the caller gives `len` readable bytes at `p`.
        unsafe { std::slice::from_raw_parts(p as *const u8, len) }
    }
}

/// Parses a JSON text the way every guest JSON is parsed. serde_json
/// refuses nesting deeper than 128, numbers beyond a double's range, lone
/// surrogate escapes and anything after the value.
fn parse(text: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(text).map_err(|e| {
        let what = e.to_string();
        if what.starts_with("recursion limit exceeded") {
            format!("JSON nested deeper than 128 levels ({what})")
        } else {
            format!("not valid JSON: {what}")
        }
    })
}

/// 0: `text` is JSON the host accepts; else 1 and a message in `msg`.
#[unsafe(no_mangle)]
pub extern "C" fn eryx__json_check(text: *const c_char, len: usize, msg: *mut c_char, cap: usize) -> i32 {
    let r = catch_unwind(|| parse(bytes(text, len)).map(|_| ()));
    match r {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            write_msg(msg, cap, &e);
            1
        }
        Err(_) => {
            write_msg(msg, cap, "internal error while checking JSON");
            1
        }
    }
}

fn draft_of(schema: &Value, forced: i32) -> Result<Draft, String> {
    match forced {
        4 => return Ok(Draft::Draft4),
        6 => return Ok(Draft::Draft6),
        7 => return Ok(Draft::Draft7),
        2019 => return Ok(Draft::Draft201909),
        2020 => return Ok(Draft::Draft202012),
        _ => {}
    }
    let Some(uri) = schema.get("$schema") else {
        return Ok(Draft::Draft202012);
    };
    let uri = uri.as_str().ok_or("\"$schema\" must be a string")?;
    let uri = uri.trim_end_matches('#').trim_start_matches("https://").trim_start_matches("http://");
    Ok(match uri {
        "json-schema.org/draft-04/schema" => Draft::Draft4,
        "json-schema.org/draft-06/schema" => Draft::Draft6,
        "json-schema.org/draft-07/schema" => Draft::Draft7,
        "json-schema.org/draft/2019-09/schema" => Draft::Draft201909,
        "json-schema.org/draft/2020-12/schema" => Draft::Draft202012,
        _ => return Err(format!("unsupported \"$schema\" {uri:?} (drafts 4, 6, 7, 2019-09 and 2020-12 are supported)")),
    })
}

/// Keywords each draft defines (validation, applicators and annotations).
fn known(draft: Draft, key: &str) -> bool {
    const ALL: &[&str] = &[
        "$ref", "title", "description", "default", "definitions", "format", "type", "enum",
        "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
        "minLength", "pattern", "items", "maxItems", "minItems", "uniqueItems", "maxProperties",
        "minProperties", "required", "properties", "patternProperties", "additionalProperties",
        "allOf", "anyOf", "oneOf", "not", "$schema",
    ];
    const SINCE6: &[&str] = &["$id", "const", "contains", "propertyNames", "examples"];
    const SINCE7: &[&str] = &[
        "$comment", "if", "then", "else", "readOnly", "writeOnly", "contentMediaType",
        "contentEncoding",
    ];
    const UNTIL2019: &[&str] = &["additionalItems"];
    const UNTIL7: &[&str] = &["dependencies"];
    const SINCE2019: &[&str] = &[
        "$anchor", "$defs", "$vocabulary", "dependentSchemas", "dependentRequired",
        "unevaluatedItems", "unevaluatedProperties", "maxContains", "minContains",
        "contentSchema", "deprecated",
    ];
    const ONLY2019: &[&str] = &["$recursiveRef", "$recursiveAnchor"];
    const SINCE2020: &[&str] = &["$dynamicRef", "$dynamicAnchor", "prefixItems"];
    let n = |d: Draft| match d {
        Draft::Draft4 => 4,
        Draft::Draft6 => 6,
        Draft::Draft7 => 7,
        Draft::Draft201909 => 2019,
        _ => 2020,
    };
    let v = n(draft);
    let has = |list: &[&str]| list.contains(&key);
    has(ALL)
        || (v == 4 && key == "id")
        || (v >= 6 && has(SINCE6))
        || (v >= 7 && has(SINCE7))
        || (v <= 2019 && has(UNTIL2019))
        || (v <= 7 && has(UNTIL7))
        || (v >= 2019 && has(SINCE2019))
        || (v == 2019 && has(ONLY2019))
        || (v >= 2020 && has(SINCE2020))
}

/// Walks every subschema and refuses keywords the draft does not define.
fn check_keywords(schema: &Value, draft: Draft, path: &mut String) -> Result<(), String> {
    let Value::Object(map) = schema else {
        return match schema {
            Value::Bool(_) => Ok(()),
            _ => Err(format!("{}: a schema must be an object or a boolean", at(path))),
        };
    };
    for (key, value) in map {
        if !known(draft, key) {
            return Err(format!(
                "{}: unsupported keyword {key:?} for draft {}",
                at(path),
                draft_name(draft)
            ));
        }
        let len = path.len();
        path.push('/');
        path.push_str(key);
        let r = match key.as_str() {
            "properties" | "patternProperties" | "definitions" | "$defs" | "dependentSchemas" => {
                each_member(value, draft, path)
            }
            "dependencies" => match value {
                Value::Object(m) => m
                    .iter()
                    .filter(|(_, v)| !v.is_array())
                    .try_for_each(|(k, v)| sub(v, draft, path, k)),
                _ => Ok(()),
            },
            "allOf" | "anyOf" | "oneOf" | "prefixItems" => each_element(value, draft, path),
            "items" if value.is_array() => each_element(value, draft, path),
            "items" | "additionalItems" | "additionalProperties" | "contains" | "propertyNames"
            | "not" | "if" | "then" | "else" | "unevaluatedItems" | "unevaluatedProperties"
            | "contentSchema" => check_keywords(value, draft, path),
            _ => Ok(()),
        };
        path.truncate(len);
        r?;
    }
    Ok(())
}

fn sub(v: &Value, draft: Draft, path: &mut String, name: &str) -> Result<(), String> {
    let len = path.len();
    path.push('/');
    path.push_str(name);
    let r = check_keywords(v, draft, path);
    path.truncate(len);
    r
}

fn each_member(v: &Value, draft: Draft, path: &mut String) -> Result<(), String> {
    match v {
        Value::Object(m) => m.iter().try_for_each(|(k, v)| sub(v, draft, path, k)),
        _ => Ok(()), // the meta-schema check reports the wrong type
    }
}

fn each_element(v: &Value, draft: Draft, path: &mut String) -> Result<(), String> {
    match v {
        Value::Array(a) => a.iter().enumerate().try_for_each(|(i, v)| sub(v, draft, path, &i.to_string())),
        _ => Ok(()),
    }
}

fn at(path: &str) -> &str {
    if path.is_empty() {
        "schema"
    } else {
        path
    }
}

fn draft_name(d: Draft) -> &'static str {
    match d {
        Draft::Draft4 => "4",
        Draft::Draft6 => "6",
        Draft::Draft7 => "7",
        Draft::Draft201909 => "2019-09",
        _ => "2020-12",
    }
}

fn compile(text: &[u8], forced: i32) -> Result<Schema, String> {
    let schema = parse(text).map_err(|e| format!("schema is {e}"))?;
    if !schema.is_object() && !schema.is_boolean() {
        return Err("a schema must be a JSON object or a boolean".into());
    }
    let draft = draft_of(&schema, forced)?;
    check_keywords(&schema, draft, &mut String::new())?;
    let validator = jsonschema::options()
        .with_draft(draft)
        .build(&schema)
        .map_err(|e| {
            let path = e.instance_path().to_string();
            if path.is_empty() {
                format!("invalid schema: {e}")
            } else {
                format!("invalid schema at {path}: {e}")
            }
        })?;
    Ok(Schema { validator })
}

/// Compiles a schema (JSON text). `draft`: 0 to take it from `$schema`
/// (2020-12 when absent), or 4, 6, 7, 2019, 2020 to force one. NULL on
/// failure, with the reason in `msg`.
#[unsafe(no_mangle)]
pub extern "C" fn eryx__schema_compile(
    text: *const c_char,
    len: usize,
    draft: i32,
    msg: *mut c_char,
    cap: usize,
) -> *mut Schema {
    match catch_unwind(|| compile(bytes(text, len), draft)) {
        Ok(Ok(s)) => Box::into_raw(Box::new(s)),
        Ok(Err(e)) => {
            write_msg(msg, cap, &e);
            std::ptr::null_mut()
        }
        Err(_) => {
            write_msg(msg, cap, "internal error while compiling the schema");
            std::ptr::null_mut()
        }
    }
}

/// Validates a JSON text against a compiled schema: 0 valid, 1 not
/// acceptable JSON, 2 valid JSON that the schema refuses (the first error,
/// with the path of the offending value, in `msg`).
#[unsafe(no_mangle)]
pub extern "C" fn eryx__schema_validate(
    schema: *const Schema,
    text: *const c_char,
    len: usize,
    msg: *mut c_char,
    cap: usize,
) -> i32 {
    if schema.is_null() {
        write_msg(msg, cap, "no schema");
        return 1;
    }
    // SAFETY: a pointer from eryx__schema_compile, not yet freed.
    let schema = unsafe { &*schema };
    let r = catch_unwind(AssertUnwindSafe(|| {
        let value = match parse(bytes(text, len)) {
            Ok(v) => v,
            Err(e) => return (1, e),
        };
        match schema.validator.validate(&value) {
            Ok(()) => (0, String::new()),
            Err(e) => {
                let path = e.instance_path().to_string();
                let what = if path.is_empty() { String::from("arguments") } else { format!("argument {path}") };
                (2, format!("{what}: {e}"))
            }
        }
    }));
    match r {
        Ok((0, _)) => 0,
        Ok((code, e)) => {
            write_msg(msg, cap, &e);
            code
        }
        Err(_) => {
            write_msg(msg, cap, "internal error while validating");
            1
        }
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn eryx__schema_free(schema: *mut Schema) {
    if !schema.is_null() {
        // SAFETY: a pointer from eryx__schema_compile, freed once.
        drop(unsafe { Box::from_raw(schema) });
    }
}
