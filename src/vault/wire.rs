//! The Variable object of `/vault/variables…` (spec `VariableWithHash`; platform-libraries
//! vault-api-client `Variable`): `attributes` always an object, `flags` always a list, and
//! `isEncrypted`, which newer clients read instead of the flags.
use std::collections::BTreeMap;

use serde::Serialize;

use crate::meta::vault_variables::VaultVariable;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    pub hash: String,
    pub key: String,
    /// The cipher, for an encrypted variable: the plain value never leaves the server.
    pub value: String,
    pub is_encrypted: bool,
    pub flags: Vec<String>,
    pub attributes: BTreeMap<String, String>,
}

impl Variable {
    pub fn of(v: &VaultVariable) -> Variable {
        Variable {
            hash: v.hash.clone(),
            key: v.key.clone(),
            value: v.value.clone(),
            is_encrypted: super::is_encrypted(v),
            flags: v.flags.clone(),
            attributes: v.attributes.clone(),
        }
    }

    pub fn list(vs: &[VaultVariable]) -> Vec<Variable> {
        vs.iter().map(Variable::of).collect()
    }
}
