//! Contiguous f32 CPU tensors seen as Rust slices, for loops over every
//! parameter (gradient sums, the optimizer) that would otherwise cost a dozen
//! small libtorch ops per tensor.

use crate::error::{ModelError, Result, codes};
use tch::{Device, Kind, Tensor};

/// The byte range a tensor's elements occupy, after checking that it can be
/// seen as a slice: defined, on the CPU, f32, contiguous.
fn span(tensor: &Tensor) -> Result<(usize, usize)> {
    let refuse = |why: &str| Err(ModelError::new(codes::OPTION, format!("a parameter tensor {why}")));
    if !tensor.defined() {
        return refuse("is undefined");
    }
    if tensor.device() != Device::Cpu {
        return refuse("is not on the CPU");
    }
    if tensor.kind() != Kind::Float {
        return refuse(&format!("is {:?}, not f32", tensor.kind()));
    }
    if !tensor.is_contiguous() {
        return refuse("is not contiguous");
    }
    let start = tensor.data_ptr() as usize;
    Ok((start, start + tensor.numel() * std::mem::size_of::<f32>()))
}

/// Calls `f` with `read` as shared slices and `write` as mutable slices.
///
/// Every tensor must be a defined, contiguous f32 CPU tensor, and no written
/// tensor may share memory with any other tensor given (shallow clones of one
/// tensor are refused rather than aliased). While `f` runs, nothing else may
/// touch these tensors: callers use it between libtorch calls on one thread.
pub fn with_slices<R>(
    read: &[&Tensor],
    write: &[&Tensor],
    f: impl FnOnce(&[&[f32]], &mut [&mut [f32]]) -> R,
) -> Result<R> {
    let reads = read.iter().map(|t| span(t)).collect::<Result<Vec<_>>>()?;
    let writes = write.iter().map(|t| span(t)).collect::<Result<Vec<_>>>()?;
    let overlaps = |a: (usize, usize), b: (usize, usize)| a.0 < b.1 && b.0 < a.1;
    for (i, &w) in writes.iter().enumerate() {
        let others = writes.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, &s)| s).chain(reads.iter().copied());
        if others.clone().any(|o| overlaps(w, o)) {
            return Err(ModelError::new(codes::OPTION, "a parameter tensor is written through two views at once"));
        }
    }
    let slice = |(start, end): (usize, usize)| (start, (end - start) / std::mem::size_of::<f32>());
    // SAFETY: each span is the element range of a live, contiguous f32 CPU
    // tensor borrowed for the duration of this call; written ranges overlap no
    // other range, so the mutable slices alias nothing; empty tensors become
    // empty slices without touching their (possibly null) pointers.
    let shared: Vec<&[f32]> = reads
        .into_iter()
        .map(slice)
        .map(
            |(start, len)| {
                if len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(start as *const f32, len) } }
            },
        )
        .collect();
    let mut exclusive: Vec<&mut [f32]> = writes
        .into_iter()
        .map(slice)
        .map(
            |(start, len)| {
                if len == 0 { &mut [][..] } else { unsafe { std::slice::from_raw_parts_mut(start as *mut f32, len) } }
            },
        )
        .collect();
    Ok(f(&shared, &mut exclusive))
}

/// Σ x² in f64 over a slice, in a fixed order (four interleaved partial sums).
pub fn sum_of_squares(values: &[f32]) -> f64 {
    let mut partial = [0.0f64; 4];
    let mut chunks = values.chunks_exact(4);
    for chunk in &mut chunks {
        for (p, &x) in partial.iter_mut().zip(chunk) {
            *p += f64::from(x) * f64::from(x);
        }
    }
    for (p, &x) in partial.iter_mut().zip(chunks.remainder()) {
        *p += f64::from(x) * f64::from(x);
    }
    (partial[0] + partial[1]) + (partial[2] + partial[3])
}
