//! The Templates service, served at `/templates` (host `templates.<suffix>`): template
//! repositories (`repository`, the built-in `keboola` one compiled in from
//! `src/templates/repository/`), the inputs a version asks for and their validation (`inputs`),
//! rendering a version into configurations (`render`), instances of templates in a project
//! branch recorded in branch and configuration metadata as Keboola records them (`instances`),
//! and the tasks `use`/`upgrade`/`delete` answer with (`tasks`). HTTP in `api`, objects in
//! `wire`, the goa error envelope in `error`.
pub mod api;
pub mod error;
pub mod inputs;
pub mod instances;
pub mod render;
pub mod repository;
pub mod tasks;
pub mod wire;
