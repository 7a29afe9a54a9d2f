//! The Azure-Blob-compatible endpoint over the blob store (`kbstack_store::blob`): the REST
//! operations clients use (`http`) and SAS tokens bound to one file's blob prefix and its expiry
//! (`sas`).
pub mod http;
pub mod sas;

pub use kbstack_store::blob::*;

/// An axum request body as the blob store takes uploads.
pub fn upload_stream(body: axum::body::Body) -> ByteStream {
    use futures::TryStreamExt;
    Box::pin(body.into_data_stream().map_err(std::io::Error::other))
}

/// The path the blob endpoint is mounted at (`/abs/{account}/{container}/{blob}`), and so its
/// host label (`abs.<suffix>`) in the host-based layout.
pub const MOUNT: &str = "abs";

/// The Azure-style host of the account: keboola-cli turns sliced-file manifest entries
/// `azure://<account>.blob.core.windows.net/...` into https URLs on this host.
pub fn azure_host() -> String {
    format!("{ACCOUNT}.blob.core.windows.net")
}
