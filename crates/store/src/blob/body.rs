//! Uploaded bodies written to files. The writes run on one blocking thread fed with the body's
//! chunks as hyper hands them over, batched into vectored writes: no extra copy in user space
//! (tokio's `fs::File` copies every write into its own buffer and hops to the blocking pool per
//! write), which matters when a 1 GB upload is mostly the kernel copying into the page cache.
use std::fs::File;
use std::io::{IoSlice, Write};

use bytes::Bytes;
use futures::StreamExt;

use super::ByteStream;

use kbstack_core::{Code, Error as ApiError, Result as ApiResult};

/// Chunks in flight between the request and the writer thread (hyper's chunks are up to ~400 KB).
const QUEUE: usize = 64;

/// Write the body to `file` from its current position; the bytes written and the file back.
pub async fn write_body(body: ByteStream, file: File) -> ApiResult<(u64, File)> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(QUEUE);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<(u64, File)> {
        let mut file = file;
        let mut written = 0u64;
        while let Some(first) = rx.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < QUEUE {
                match rx.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            write_all(&mut file, &batch)?;
            written += batch.iter().map(|b| b.len() as u64).sum::<u64>();
        }
        Ok((written, file))
    });
    let mut stream = body;
    let mut broken = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            // A send fails only when the writer stopped on an error, which its result reports.
            Ok(c) => {
                if tx.send(c).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                broken = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let result = writer.await.map_err(|e| ApiError::internal(format!("body writer panicked: {e}")))?;
    if let Some(e) = broken {
        return Err(ApiError::new(Code::BlobInvalidInput, format!("The request body could not be read: {e}")));
    }
    Ok(result?)
}

fn write_all(file: &mut File, chunks: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
