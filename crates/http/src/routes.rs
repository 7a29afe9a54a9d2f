//! Route declarations that remember themselves.
//!
//! axum cannot list the routes of a `Router`, yet the bad-input test (`tests/bad_input.rs`) must
//! walk every route with every method it answers. So services declare routes through `Routes`,
//! a drop-in for `Router::new().route(path, get(a).post(b))` that builds the same router and keeps
//! the `(path, methods)` table next to it: the list cannot drift from what is served.
use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::MethodRouter;

/// One path and the methods it answers (`any` routes list none: they answer every method).
#[derive(Debug, Clone)]
pub struct Route {
    pub path: String,
    pub methods: Vec<Method>,
    /// Mounted with `any`: the handler answers every method itself.
    pub any: bool,
}

/// A `MethodRouter` and the methods given to it.
pub struct Methods<S> {
    router: MethodRouter<S>,
    methods: Vec<Method>,
    any: bool,
}

macro_rules! method_fns {
    ($($name:ident => $method:ident),*) => {
        $(
            pub fn $name<H, T, S>(handler: H) -> Methods<S>
            where
                H: Handler<T, S>,
                T: 'static,
                S: Clone + Send + Sync + 'static,
            {
                Methods { router: axum::routing::$name(handler), methods: vec![Method::$method], any: false }
            }
        )*

        impl<S: Clone + Send + Sync + 'static> Methods<S> {
            $(
                pub fn $name<H, T>(mut self, handler: H) -> Self
                where
                    H: Handler<T, S>,
                    T: 'static,
                {
                    self.router = self.router.$name(handler);
                    self.methods.push(Method::$method);
                    self
                }
            )*
        }
    };
}

method_fns!(get => GET, post => POST, put => PUT, delete => DELETE, patch => PATCH);

/// A handler for every method (the blob endpoint dispatches on the method itself).
pub fn any<H, T, S>(handler: H) -> Methods<S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    Methods { router: axum::routing::any(handler), methods: Vec::new(), any: true }
}

/// A router under construction and the table of what it serves.
pub struct Routes<S> {
    router: Router<S>,
    table: Vec<Route>,
}

impl<S: Clone + Send + Sync + 'static> Default for Routes<S> {
    fn default() -> Self {
        Routes { router: Router::new(), table: Vec::new() }
    }
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn route(mut self, path: &str, methods: Methods<S>) -> Self {
        self.router = self.router.route(path, methods.router);
        self.table.push(Route { path: path.to_string(), methods: methods.methods, any: methods.any });
        self
    }

    pub fn merge(mut self, other: Routes<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    /// Layers and other router settings that add no route (`.layer(…)`).
    pub fn map_router(mut self, f: impl FnOnce(Router<S>) -> Router<S>) -> Self {
        self.router = f(self.router);
        self
    }

    pub fn table(&self) -> &[Route] {
        &self.table
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }
}
