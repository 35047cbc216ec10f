"""The codec's generated style (kafka-protocol 0.18) for a flexible message valid in version 0 only.

PATCHED (lagring): written for messages the crate lacks; see ../PATCHED.md."""
import re, sys

def snake(n):
    return re.sub(r'(?<=[a-z0-9])([A-Z])', r'_\1', n).lower()

PRIM = {'int8': ('i8', 'types::Int8', '0'), 'int16': ('i16', 'types::Int16', '0'),
        'int32': ('i32', 'types::Int32', '0'), 'int64': ('i64', 'types::Int64', '0'),
        'uint16': ('u16', 'types::UInt16', '0'), 'bool': ('bool', 'types::Boolean', 'false'),
        'uuid': ('Uuid', 'types::Uuid', 'Uuid::nil()')}

def field_info(f, structs):
    t, nullable, entity = f['type'], f.get('nullable', False), f.get('entity')
    if t.startswith('[]'):
        inner = t[2:]
        if inner in PRIM:
            rt, codec = PRIM[inner][0], PRIM[inner][1]
        elif inner == 'string':
            rt, codec = ('super::TopicName' if entity == 'topicName' else 'super::GroupId' if entity == 'groupId' else 'StrBytes'), 'types::CompactString'
        else:
            rt, codec = inner, 'types::Struct { version }'
        rt = f'Vec<{rt}>'
        codec = f'types::CompactArray({codec})'
        if nullable:
            return f'Option<{rt}>', codec, 'None' if f.get('default') == 'null' else 'Some(Default::default())'
        return rt, codec, 'Default::default()'
    if t in PRIM:
        rt, codec, d = PRIM[t]
        return rt, codec, f.get('default', d)
    if t == 'string':
        rt = 'super::TopicName' if entity == 'topicName' else 'super::GroupId' if entity == 'groupId' else 'StrBytes'
        if nullable:
            return f'Option<{rt}>', 'types::CompactString', 'None'
        return rt, 'types::CompactString', 'Default::default()'
    if nullable:
        return f'Option<{t}>', 'types::OptionStruct { version }', 'None'
    return t, 'types::Struct { version }', 'Default::default()'

def doc(about, indent):
    return f'{indent}/// {about}\n{indent}///\n{indent}/// Supported API versions: 0\n'

TAGGED_ENC = '''        let num_tagged_fields = self.unknown_tagged_fields.len();
        if num_tagged_fields > std::u32::MAX as usize {
            bail!(
                "Too many tagged fields to encode ({} fields)",
                num_tagged_fields
            );
        }
        types::UnsignedVarInt.encode(buf, num_tagged_fields as u32)?;

        write_unknown_tagged_fields(buf, 0.., &self.unknown_tagged_fields)?;
        Ok(())
'''
TAGGED_SIZE = '''        let num_tagged_fields = self.unknown_tagged_fields.len();
        if num_tagged_fields > std::u32::MAX as usize {
            bail!(
                "Too many tagged fields to encode ({} fields)",
                num_tagged_fields
            );
        }
        total_size += types::UnsignedVarInt.compute_size(num_tagged_fields as u32)?;

        total_size += compute_unknown_tagged_fields_size(&self.unknown_tagged_fields)?;
        Ok(total_size)
'''
TAGGED_DEC = '''        let mut unknown_tagged_fields = BTreeMap::new();
        let num_tagged_fields = types::UnsignedVarInt.decode(buf)?;
        for _ in 0..num_tagged_fields {
            let tag: u32 = types::UnsignedVarInt.decode(buf)?;
            let size: u32 = types::UnsignedVarInt.decode(buf)?;
            let unknown_value = buf.try_get_bytes(size as usize)?;
            unknown_tagged_fields.insert(tag as i32, unknown_value);
        }
'''
CHECK = '''        if version != 0 {
            bail!("specified version not supported by this message type");
        }
'''

def struct(name, fields, structs, enc_feature, dec_feature):
    out = f'/// Valid versions: 0\n#[non_exhaustive]\n#[derive(Debug, Clone, PartialEq)]\npub struct {name} {{\n'
    infos = [(snake(f['name']), f, *field_info(f, structs)) for f in fields]
    for sn, f, rt, codec, d in infos:
        out += doc(f['about'], '    ') + f'    pub {sn}: {rt},\n\n'
    out += '    /// Other tagged fields\n    pub unknown_tagged_fields: BTreeMap<i32, Bytes>,\n}\n\n'
    out += f'impl {name} {{\n'
    for sn, f, rt, codec, d in infos:
        out += f'    /// Sets `{sn}` to the passed value.\n    ///\n    /// {f["about"]}\n    ///\n    /// Supported API versions: 0\n'
        out += f'    pub fn with_{sn}(mut self, value: {rt}) -> Self {{\n        self.{sn} = value;\n        self\n    }}\n'
    out += '''    /// Sets unknown_tagged_fields to the passed value.
    pub fn with_unknown_tagged_fields(mut self, value: BTreeMap<i32, Bytes>) -> Self {
        self.unknown_tagged_fields = value;
        self
    }
    /// Inserts an entry into unknown_tagged_fields.
    pub fn with_unknown_tagged_field(mut self, key: i32, value: Bytes) -> Self {
        self.unknown_tagged_fields.insert(key, value);
        self
    }
}

'''
    out += f'#[cfg(feature = "{enc_feature}")]\nimpl Encodable for {name} {{\n    fn encode<B: ByteBufMut>(&self, buf: &mut B, version: i16) -> Result<()> {{\n' + CHECK
    for sn, f, rt, codec, d in infos:
        out += f'        {codec}.encode(buf, &self.{sn})?;\n'
    out += TAGGED_ENC + '    }\n    fn compute_size(&self, version: i16) -> Result<usize> {\n        let mut total_size = 0;\n'
    for sn, f, rt, codec, d in infos:
        out += f'        total_size += {codec}.compute_size(&self.{sn})?;\n'
    out += TAGGED_SIZE + '    }\n}\n\n'
    out += f'#[cfg(feature = "{dec_feature}")]\nimpl Decodable for {name} {{\n    fn decode<B: ByteBuf>(buf: &mut B, version: i16) -> Result<Self> {{\n' + CHECK
    for sn, f, rt, codec, d in infos:
        out += f'        let {sn} = {codec}.decode(buf)?;\n'
    out += TAGGED_DEC + '        Ok(Self {\n'
    for sn, *_ in infos:
        out += f'            {sn},\n'
    out += '            unknown_tagged_fields,\n        })\n    }\n}\n\n'
    out += f'impl Default for {name} {{\n    fn default() -> Self {{\n        Self {{\n'
    for sn, f, rt, codec, d in infos:
        out += f'            {sn}: {d},\n'
    out += '            unknown_tagged_fields: BTreeMap::new(),\n        }\n    }\n}\n\n'
    out += f'impl Message for {name} {{\n    const VERSIONS: VersionRange = VersionRange {{ min: 0, max: 0 }};\n    const DEPRECATED_VERSIONS: Option<VersionRange> = None;\n}}\n\n'
    return out

HEADER = '''//! {name}
//!
//! See the schema for this message [here](https://github.com/apache/kafka/blob/trunk/clients/src/main/resources/common/message/{name}.json).
// WARNING: the items of this module are generated and should not be edited directly
// PATCHED (lagring): not in kafka-protocol 0.18.0; generated in the codec's style from Kafka's
// message spec (KIP-1071, API key 89, version 0) by lagring's helper script, see PATCHED.md.
#![allow(unused)]

use std::borrow::Borrow;
use std::collections::BTreeMap;

use anyhow::{{bail, Result}};
use bytes::Bytes;
use uuid::Uuid;

use crate::protocol::{{
    buf::{{ByteBuf, ByteBufMut}},
    compute_unknown_tagged_fields_size, types, write_unknown_tagged_fields, Decodable, Decoder,
    Encodable, Encoder, HeaderVersion, Message, StrBytes, VersionRange,
}};

'''

def collect(fields, structs):
    for f in fields:
        if 'fields' in f:
            inner = f['type'][2:] if f['type'].startswith('[]') else f['type']
            structs[inner] = f['fields']
            collect(f['fields'], structs)

def message(spec, enc, dec):
    structs = {spec['name']: spec['fields']}
    collect(spec['fields'], structs)
    for c in spec.get('commonStructs', []):
        structs[c['name']] = c['fields']
    out = HEADER.format(name=spec['name'])
    for name in sorted(structs):
        out += struct(name, structs[name], structs, enc, dec)
    out += f'impl HeaderVersion for {spec["name"]} {{\n    fn header_version(version: i16) -> i16 {{\n        {spec["header"]}\n    }}\n}}\n'
    return out
