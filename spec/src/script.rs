//! A `.wast` file as plain data: the commands to run and what each should produce.
//!
//! Scripts are made on the host (`convert`) and run anywhere (`exec`), including inside
//! the kernel, so they serialize to a compact binary form ([`Script::encode`],
//! [`Script::decode`]) that needs no parser on the target.

use alloc::string::String;
use alloc::vec::Vec;

/// An argument or an exact expected value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    I32(u32),
    I64(u64),
    F32(u32),
    F64(u64),
    NullFuncRef,
    NullExternRef,
    /// `ref.extern N`: a host reference carrying `N`.
    ExternRef(u32),
    /// A `v128`, lane 0 in the low bits.
    V128(u128),
}

/// What an assertion accepts for one result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    Exact(Value),
    F32CanonicalNan,
    F32ArithmeticNan,
    F64CanonicalNan,
    F64ArithmeticNan,
    /// Any non-null function reference.
    AnyFuncRef,
    /// Any null reference.
    AnyNull,
    /// One of several alternatives.
    Either(Vec<Expected>),
    /// A `v128` checked lane by lane as `f32`s (four patterns, lane 0 first), so lanes
    /// may expect a canonical or arithmetic NaN.
    F32x4(Vec<Expected>),
    /// The same with two `f64` lanes.
    F64x2(Vec<Expected>),
}

/// An invocation of an export, or a read of an exported global.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Invoke { module: Option<String>, field: String, args: Vec<Value> },
    Get { module: Option<String>, field: String },
}

/// One directive of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Compile and instantiate; named modules can be referred to later.
    Module {
        line: u32,
        name: Option<String>,
        binary: Vec<u8>,
    },
    /// Compile only (`module definition`).
    ModuleDefinition {
        line: u32,
        name: Option<String>,
        binary: Vec<u8>,
    },
    /// Instantiate a defined module (`module instance`).
    ModuleInstance {
        line: u32,
        instance: Option<String>,
        module: Option<String>,
    },
    /// Make a module's exports importable under `name`.
    Register {
        line: u32,
        name: String,
        module: Option<String>,
    },
    Action {
        line: u32,
        action: Action,
    },
    AssertReturn {
        line: u32,
        action: Action,
        expected: Vec<Expected>,
    },
    AssertTrap {
        line: u32,
        action: Action,
        message: String,
    },
    /// Instantiating the module must trap.
    AssertTrapModule {
        line: u32,
        binary: Vec<u8>,
        message: String,
    },
    AssertExhaustion {
        line: u32,
        action: Action,
        message: String,
    },
    AssertInvalid {
        line: u32,
        binary: Vec<u8>,
        message: String,
    },
    AssertMalformed {
        line: u32,
        binary: Vec<u8>,
        message: String,
    },
    AssertUnlinkable {
        line: u32,
        binary: Vec<u8>,
        message: String,
    },
    /// A directive whose check happened during conversion (e.g. a malformed text
    /// module the text parser already rejected): counts as passed.
    CheckedAtConversion {
        line: u32,
    },
}

/// A converted `.wast` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    pub name: String,
    pub commands: Vec<Command>,
}

/// Why a script could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "malformed script at byte {}", self.offset)
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    fn opt_str(&mut self, v: &Option<String>) {
        match v {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }
    fn value(&mut self, v: &Value) {
        match v {
            Value::I32(x) => {
                self.u8(0);
                self.u32(*x);
            }
            Value::I64(x) => {
                self.u8(1);
                self.u64(*x);
            }
            Value::F32(x) => {
                self.u8(2);
                self.u32(*x);
            }
            Value::F64(x) => {
                self.u8(3);
                self.u64(*x);
            }
            Value::NullFuncRef => self.u8(4),
            Value::NullExternRef => self.u8(5),
            Value::ExternRef(x) => {
                self.u8(6);
                self.u32(*x);
            }
            Value::V128(x) => {
                self.u8(7);
                self.u64(*x as u64);
                self.u64((*x >> 64) as u64);
            }
        }
    }
    fn expected(&mut self, e: &Expected) {
        match e {
            Expected::Exact(v) => {
                self.u8(0);
                self.value(v);
            }
            Expected::F32CanonicalNan => self.u8(1),
            Expected::F32ArithmeticNan => self.u8(2),
            Expected::F64CanonicalNan => self.u8(3),
            Expected::F64ArithmeticNan => self.u8(4),
            Expected::AnyFuncRef => self.u8(5),
            Expected::AnyNull => self.u8(6),
            Expected::Either(all) | Expected::F32x4(all) | Expected::F64x2(all) => {
                self.u8(match e {
                    Expected::Either(_) => 7,
                    Expected::F32x4(_) => 8,
                    _ => 9,
                });
                self.u32(all.len() as u32);
                all.iter().for_each(|e| self.expected(e));
            }
        }
    }
    fn action(&mut self, a: &Action) {
        match a {
            Action::Invoke { module, field, args } => {
                self.u8(0);
                self.opt_str(module);
                self.str(field);
                self.u32(args.len() as u32);
                args.iter().for_each(|v| self.value(v));
            }
            Action::Get { module, field } => {
                self.u8(1);
                self.opt_str(module);
                self.str(field);
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end =
            self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or(DecodeError { offset: self.at })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.u32()? as usize;
        Ok(self.take(len)?.to_vec())
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        let at = self.at;
        String::from_utf8(self.bytes()?).map_err(|_| DecodeError { offset: at })
    }
    fn opt_str(&mut self) -> Result<Option<String>, DecodeError> {
        Ok(if self.u8()? == 0 { None } else { Some(self.str()?) })
    }
    fn bad<T>(&self) -> Result<T, DecodeError> {
        Err(DecodeError { offset: self.at })
    }
    fn value(&mut self) -> Result<Value, DecodeError> {
        Ok(match self.u8()? {
            0 => Value::I32(self.u32()?),
            1 => Value::I64(self.u64()?),
            2 => Value::F32(self.u32()?),
            3 => Value::F64(self.u64()?),
            4 => Value::NullFuncRef,
            5 => Value::NullExternRef,
            6 => Value::ExternRef(self.u32()?),
            7 => {
                let low = self.u64()?;
                let high = self.u64()?;
                Value::V128(u128::from(low) | (u128::from(high) << 64))
            }
            _ => return self.bad(),
        })
    }
    fn expected(&mut self) -> Result<Expected, DecodeError> {
        Ok(match self.u8()? {
            0 => Expected::Exact(self.value()?),
            1 => Expected::F32CanonicalNan,
            2 => Expected::F32ArithmeticNan,
            3 => Expected::F64CanonicalNan,
            4 => Expected::F64ArithmeticNan,
            5 => Expected::AnyFuncRef,
            6 => Expected::AnyNull,
            tag @ 7..=9 => {
                let n = self.u32()?;
                let all = (0..n).map(|_| self.expected()).collect::<Result<_, _>>()?;
                match tag {
                    7 => Expected::Either(all),
                    8 => Expected::F32x4(all),
                    _ => Expected::F64x2(all),
                }
            }
            _ => return self.bad(),
        })
    }
    fn action(&mut self) -> Result<Action, DecodeError> {
        Ok(match self.u8()? {
            0 => {
                let module = self.opt_str()?;
                let field = self.str()?;
                let n = self.u32()?;
                let args = (0..n).map(|_| self.value()).collect::<Result<_, _>>()?;
                Action::Invoke { module, field, args }
            }
            1 => Action::Get { module: self.opt_str()?, field: self.str()? },
            _ => return self.bad(),
        })
    }
}

impl Script {
    /// Serializes the script.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.str(&self.name);
        w.u32(self.commands.len() as u32);
        for command in &self.commands {
            match command {
                Command::Module { line, name, binary } => {
                    w.u8(0);
                    w.u32(*line);
                    w.opt_str(name);
                    w.bytes(binary);
                }
                Command::ModuleDefinition { line, name, binary } => {
                    w.u8(1);
                    w.u32(*line);
                    w.opt_str(name);
                    w.bytes(binary);
                }
                Command::ModuleInstance { line, instance, module } => {
                    w.u8(2);
                    w.u32(*line);
                    w.opt_str(instance);
                    w.opt_str(module);
                }
                Command::Register { line, name, module } => {
                    w.u8(3);
                    w.u32(*line);
                    w.str(name);
                    w.opt_str(module);
                }
                Command::Action { line, action } => {
                    w.u8(4);
                    w.u32(*line);
                    w.action(action);
                }
                Command::AssertReturn { line, action, expected } => {
                    w.u8(5);
                    w.u32(*line);
                    w.action(action);
                    w.u32(expected.len() as u32);
                    expected.iter().for_each(|e| w.expected(e));
                }
                Command::AssertTrap { line, action, message } | Command::AssertExhaustion { line, action, message } => {
                    w.u8(if matches!(command, Command::AssertTrap { .. }) { 6 } else { 7 });
                    w.u32(*line);
                    w.action(action);
                    w.str(message);
                }
                Command::AssertTrapModule { line, binary, message }
                | Command::AssertInvalid { line, binary, message }
                | Command::AssertMalformed { line, binary, message }
                | Command::AssertUnlinkable { line, binary, message } => {
                    w.u8(match command {
                        Command::AssertTrapModule { .. } => 8,
                        Command::AssertInvalid { .. } => 9,
                        Command::AssertMalformed { .. } => 10,
                        _ => 11,
                    });
                    w.u32(*line);
                    w.bytes(binary);
                    w.str(message);
                }
                Command::CheckedAtConversion { line } => {
                    w.u8(12);
                    w.u32(*line);
                }
            }
        }
        w.0
    }

    /// Parses what [`encode`](Self::encode) wrote.
    pub fn decode(bytes: &[u8]) -> Result<Script, DecodeError> {
        let mut r = Reader { bytes, at: 0 };
        let name = r.str()?;
        let count = r.u32()?;
        let mut commands = Vec::new();
        for _ in 0..count {
            let tag = r.u8()?;
            let line = r.u32()?;
            commands.push(match tag {
                0 => Command::Module { line, name: r.opt_str()?, binary: r.bytes()? },
                1 => Command::ModuleDefinition { line, name: r.opt_str()?, binary: r.bytes()? },
                2 => Command::ModuleInstance { line, instance: r.opt_str()?, module: r.opt_str()? },
                3 => Command::Register { line, name: r.str()?, module: r.opt_str()? },
                4 => Command::Action { line, action: r.action()? },
                5 => {
                    let action = r.action()?;
                    let n = r.u32()?;
                    let expected = (0..n).map(|_| r.expected()).collect::<Result<_, _>>()?;
                    Command::AssertReturn { line, action, expected }
                }
                6 => Command::AssertTrap { line, action: r.action()?, message: r.str()? },
                7 => Command::AssertExhaustion { line, action: r.action()?, message: r.str()? },
                8 => Command::AssertTrapModule { line, binary: r.bytes()?, message: r.str()? },
                9 => Command::AssertInvalid { line, binary: r.bytes()?, message: r.str()? },
                10 => Command::AssertMalformed { line, binary: r.bytes()?, message: r.str()? },
                11 => Command::AssertUnlinkable { line, binary: r.bytes()?, message: r.str()? },
                12 => Command::CheckedAtConversion { line },
                _ => return r.bad(),
            });
        }
        if r.at != bytes.len() {
            return r.bad();
        }
        Ok(Script { name, commands })
    }
}
