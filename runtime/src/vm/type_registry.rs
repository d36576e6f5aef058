//! Engine-wide function type ids: equal signatures get equal ids, so `call_indirect`
//! compares one integer (embedded in the code) against the callee's id.

use hashbrown::HashMap;
use spin::RwLock;

use crate::prelude::*;
use crate::types::{FuncType, SharedTypeIndex};

/// The registry; ids are never reused while the engine lives.
#[derive(Default)]
pub struct TypeRegistry {
    inner: RwLock<RegistryInner>,
}

#[derive(Default)]
struct RegistryInner {
    ids: HashMap<FuncType, SharedTypeIndex>,
    types: Vec<FuncType>,
}

impl TypeRegistry {
    /// The id of `ty`, registering it on first sight.
    pub fn register(&self, ty: &FuncType) -> SharedTypeIndex {
        if let Some(&id) = self.inner.read().ids.get(ty) {
            return id;
        }
        let mut inner = self.inner.write();
        if let Some(&id) = inner.ids.get(ty) {
            return id;
        }
        let id = SharedTypeIndex::new(inner.types.len());
        inner.types.push(ty.clone());
        inner.ids.insert(ty.clone(), id);
        id
    }

    /// The type with id `id`.
    pub fn get(&self, id: SharedTypeIndex) -> Option<FuncType> {
        self.inner.read().types.get(id.index()).cloned()
    }
}
