//! The registries of component kinds (STYLE P5): one list per kind, read by
//! config compilation, `qunbot list` and `qunbot schema`.

use crate::adapter::{self, AdapterFactory};
use crate::plugin::{self, PluginFactory};

/// Every plugin and adapter kind the build knows.
pub struct Registry {
    /// Plugin kinds, by `use:` value.
    pub plugins: Vec<Box<dyn PluginFactory>>,
    /// Adapter kinds, by `kind:` value.
    pub adapters: Vec<Box<dyn AdapterFactory>>,
}

impl Registry {
    /// The built-in kinds.
    pub fn builtin() -> Self {
        Self {
            plugins: plugin::builtins(),
            adapters: adapter::builtins(),
        }
    }

    /// The plugin kind named `kind`.
    pub fn plugin(&self, kind: &str) -> Option<&dyn PluginFactory> {
        self.plugins.iter().find(|p| p.kind() == kind).map(|p| &**p)
    }

    /// The adapter kind named `kind`.
    pub fn adapter(&self, kind: &str) -> Option<&dyn AdapterFactory> {
        self.adapters.iter().find(|a| a.kind() == kind).map(|a| &**a)
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field(
                "plugins",
                &self.plugins.iter().map(|p| p.kind()).collect::<Vec<_>>(),
            )
            .field(
                "adapters",
                &self.adapters.iter().map(|a| a.kind()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique() {
        let r = Registry::builtin();
        let mut p: Vec<_> = r.plugins.iter().map(|p| p.kind()).collect();
        p.sort_unstable();
        p.dedup();
        assert_eq!(p.len(), r.plugins.len());
        let mut a: Vec<_> = r.adapters.iter().map(|a| a.kind()).collect();
        a.sort_unstable();
        a.dedup();
        assert_eq!(a.len(), r.adapters.len());
    }
}
