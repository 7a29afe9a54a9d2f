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
