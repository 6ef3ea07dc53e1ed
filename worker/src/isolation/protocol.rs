//! The framed protocol between the worker and a long-lived analysis child: jobs one after another on the
//! child's stdin, answers on its stdout. Integers are big-endian.
//!
//! - request: `u32` digest length, the digest, `u64` declared blob size;
//! - the blob: chunks of `u32` length + bytes, ended by a zero-length chunk, or by [`ABORTED`] when the
//!   worker could not read the blob to its end (the child then answers an error and waits for the next job);
//! - answer: one byte ([`OK`] or [`FAILED`]), `u32` length, then the inventory as JSON or the error text.
//!
//! The child reads each job's chunks to their end whatever its analysis did, so the next request starts
//! on a frame boundary. Every length is bounded before anything is allocated for it.

use std::io::{self, BufRead, Read, Write};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The chunk length that ends a blob the worker failed to read.
pub const ABORTED: u32 = u32::MAX;
/// Largest chunk either side sends or accepts.
pub const MAX_CHUNK: u32 = 1 << 20;
const MAX_DIGEST: u32 = 1024;
/// Largest answer the worker accepts: an inventory is file contents the analysers kept plus metadata.
const MAX_ANSWER: u32 = 512 << 20;
pub const OK: u8 = 0;
pub const FAILED: u8 = 1;

/// One job as the child receives it.
pub struct Request {
    pub digest: String,
    pub size: u64,
}

/// The child side: the next request, `None` when the worker closed the stream between jobs.
pub fn read_request(input: &mut impl BufRead) -> io::Result<Option<Request>> {
    if input.fill_buf()?.is_empty() {
        return Ok(None);
    }
    let length = read_u32(input)?;
    if length > MAX_DIGEST {
        return Err(invalid(format!("a digest of {length} bytes")));
    }
    let mut digest = vec![0; length as usize];
    input.read_exact(&mut digest)?;
    let digest = String::from_utf8(digest).map_err(|_| invalid("a digest that is not UTF-8".into()))?;
    let mut size = [0; 8];
    input.read_exact(&mut size)?;
    Ok(Some(Request { digest, size: u64::from_be_bytes(size) }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Ended,
    Aborted,
}

/// The child side: one job's blob as a reader over its chunks.
pub struct Blob<'a, R> {
    input: &'a mut R,
    left: u32,
    state: State,
}

impl<'a, R: Read> Blob<'a, R> {
    pub fn new(input: &'a mut R) -> Self {
        Blob { input, left: 0, state: State::Reading }
    }

    /// Skips what the analysis left unread, up to the end of the job's chunks.
    pub fn finish(&mut self) -> io::Result<()> {
        let mut scratch = [0; 8192];
        loop {
            match self.read(&mut scratch) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(_) if self.state == State::Aborted => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

impl<R: Read> Read for Blob<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state {
                State::Ended => return Ok(0),
                State::Aborted => return Err(io::Error::other("the worker could not read the blob to its end")),
                State::Reading if self.left > 0 => {
                    let want = buf.len().min(self.left as usize);
                    let got = self.input.read(&mut buf[..want])?;
                    if got == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    self.left -= got as u32;
                    return Ok(got);
                }
                State::Reading => match read_u32(self.input)? {
                    0 => self.state = State::Ended,
                    ABORTED => self.state = State::Aborted,
                    n if n > MAX_CHUNK => return Err(invalid(format!("a chunk of {n} bytes"))),
                    n => self.left = n,
                },
            }
        }
    }
}

/// The child side: one answer.
pub fn write_answer(output: &mut impl Write, status: u8, body: &[u8]) -> io::Result<()> {
    let length = u32::try_from(body.len()).ok().filter(|&n| n <= MAX_ANSWER);
    let length = length.ok_or_else(|| invalid(format!("an answer of {} bytes", body.len())))?;
    output.write_all(&[status])?;
    output.write_all(&length.to_be_bytes())?;
    output.write_all(body)?;
    output.flush()
}

/// The worker side: a request header.
pub async fn write_request(output: &mut (impl AsyncWrite + Unpin), digest: &str, size: u64) -> io::Result<()> {
    let length = u32::try_from(digest.len()).ok().filter(|&n| n <= MAX_DIGEST);
    let length = length.ok_or_else(|| invalid(format!("a digest of {} bytes", digest.len())))?;
    output.write_all(&length.to_be_bytes()).await?;
    output.write_all(digest.as_bytes()).await?;
    output.write_all(&size.to_be_bytes()).await
}

/// The worker side: a chunk of at most [`MAX_CHUNK`] bytes; an empty one ends the blob.
pub async fn write_chunk(output: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> io::Result<()> {
    output.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    output.write_all(bytes).await
}

/// The worker side: the end of a blob it could not read to its end.
pub async fn write_aborted(output: &mut (impl AsyncWrite + Unpin)) -> io::Result<()> {
    output.write_all(&ABORTED.to_be_bytes()).await
}

/// The worker side: the child's answer, the inventory's JSON or the analysis error.
pub async fn read_answer(input: &mut (impl AsyncRead + Unpin)) -> io::Result<Result<Vec<u8>, String>> {
    let status = input.read_u8().await?;
    let length = input.read_u32().await?;
    if length > MAX_ANSWER || (status != OK && status != FAILED) {
        return Err(invalid(format!("an answer with status {status} and {length} bytes")));
    }
    // Grown as bytes arrive, not allocated for the length the child claims.
    let mut body = Vec::new();
    let got = input.take(u64::from(length)).read_to_end(&mut body).await?;
    if got < length as usize {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(if status == OK { Ok(body) } else { Err(String::from_utf8_lossy(&body).into_owned()) })
}

fn read_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut bytes = [0; 4];
    input.read_exact(&mut bytes)?;
    Ok(u32::from_be_bytes(bytes))
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("analysis protocol: {what}"))
}
