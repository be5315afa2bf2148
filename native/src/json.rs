//! One osquery result line decoded with serde_json, in the shapes the first stage's SQL reads
//! (hindsight/store/normalise.py). Anything outside them (a double, a nested value, a
//! duplicate key, a null where a value is read, a status line, ...) is an error here, which
//! defers the line to the SQL path: it stays the reference for every line this one cannot
//! vouch for.

use serde::de::{Deserialize, Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// A string, borrowed from the line when it holds no escape.
pub struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// A scalar JSON value (a double is refused: its text differs between DuckDB and osquery).
pub enum Scalar<'a> {
    Str(Cow<'a, str>),
    I(i64),
    U(u64),
    B(bool),
    Null,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, an integer, a boolean or null")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::I(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::U(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::B(v))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// One result row: its members in the order of the line.
pub struct Row<'a>(pub Vec<(Cow<'a, str>, Scalar<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Row<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Row<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a row object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(m.size_hint().unwrap_or(16));
                while let Some((k, x)) = m.next_entry::<Str<'a>, Scalar<'a>>()? {
                    v.push((k.0, x));
                }
                Ok(Row(v))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// A list of rows: an array of them, or "" (osquery writes "" for an empty list).
pub struct Rows<'a>(pub Vec<Row<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Rows<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Rows<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of rows or \"\"")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(s.size_hint().unwrap_or(8));
                while let Some(r) = s.next_element::<Row<'a>>()? {
                    v.push(r);
                }
                Ok(Rows(v))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
                if v.is_empty() {
                    Ok(Rows(Vec::new()))
                } else {
                    Err(E::custom("a string where rows are"))
                }
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

fn once<T, E: Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::custom("a repeated key"));
    }
    *slot = Some(value);
    Ok(())
}

/// `diffResults`: its `added` and `removed` (each may be missing).
#[derive(Default)]
pub struct Diff<'a> {
    pub added: Option<Rows<'a>>,
    pub removed: Option<Rows<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Diff<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Diff<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("diffResults")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Diff::default();
                while let Some(k) = m.next_key::<Str<'a>>()? {
                    match k.0.as_ref() {
                        "added" => once(&mut out.added, m.next_value()?)?,
                        "removed" => once(&mut out.removed, m.next_value()?)?,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// `decorations`: the host's uuid, where a decoration gives it.
#[derive(Default)]
pub struct Decorations<'a> {
    pub host_uuid: Option<Cow<'a, str>>,
    pub uuid: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Decorations<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Decorations<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("decorations")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = Decorations::default();
                while let Some(k) = m.next_key::<Str<'a>>()? {
                    match k.0.as_ref() {
                        "host_uuid" => once(&mut out.host_uuid, m.next_value::<Str<'a>>()?.0)?,
                        "uuid" => once(&mut out.uuid, m.next_value::<Str<'a>>()?.0)?,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// The members of a result line that the first stage reads.
#[derive(Default)]
pub struct Line<'a> {
    pub name: Option<Cow<'a, str>>,
    pub host_identifier: Option<Cow<'a, str>>,
    pub hostname: Option<Cow<'a, str>>,
    pub action: Option<Cow<'a, str>>,
    pub host_uuid: Option<Cow<'a, str>>,
    pub uuid: Option<Cow<'a, str>>,
    pub unix_time: Option<Scalar<'a>>,
    pub epoch: Option<Scalar<'a>>,
    pub counter: Option<Scalar<'a>>,
    pub decorations: Option<Decorations<'a>>,
    pub columns: Option<Row<'a>>,
    pub snapshot: Option<Rows<'a>>,
    pub diff: Option<Diff<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Line<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Line<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an osquery result line")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut l = Line::default();
                while let Some(k) = m.next_key::<Str<'a>>()? {
                    match k.0.as_ref() {
                        "name" => once(&mut l.name, m.next_value::<Str<'a>>()?.0)?,
                        "hostIdentifier" => {
                            once(&mut l.host_identifier, m.next_value::<Str<'a>>()?.0)?
                        }
                        "hostname" => once(&mut l.hostname, m.next_value::<Str<'a>>()?.0)?,
                        "action" => once(&mut l.action, m.next_value::<Str<'a>>()?.0)?,
                        "host_uuid" => once(&mut l.host_uuid, m.next_value::<Str<'a>>()?.0)?,
                        "uuid" => once(&mut l.uuid, m.next_value::<Str<'a>>()?.0)?,
                        "unixTime" => once(&mut l.unix_time, m.next_value()?)?,
                        "epoch" => once(&mut l.epoch, m.next_value()?)?,
                        "counter" => once(&mut l.counter, m.next_value()?)?,
                        "decorations" => once(&mut l.decorations, m.next_value()?)?,
                        "columns" => once(&mut l.columns, m.next_value()?)?,
                        "snapshot" => once(&mut l.snapshot, m.next_value()?)?,
                        "diffResults" => once(&mut l.diff, m.next_value()?)?,
                        // a relay's or a status line's members: the SQL path reads those
                        "log_type" | "data" => return Err(A::Error::custom("not a plain line")),
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(l)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}
