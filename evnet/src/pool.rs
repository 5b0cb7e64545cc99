//! A loop's pool of connection buffers: idle connections hold none; a connection borrows a
//! pair when bytes arrive and gives it back when it goes idle with nothing buffered.

use net::__private::ServerConnection;
use net::Connection;

/// Buffer pairs a loop keeps for reuse; more are freed.
const POOL_LIMIT: usize = 256;
/// Write buffers that grew beyond this are freed rather than pooled.
const POOLED_WRITE_CAPACITY: usize = 64 * 1024;

/// A read buffer and a write buffer.
type Pair = (Vec<u8>, Vec<u8>);

/// Pooled buffer pairs of ordinary size.
pub(crate) struct BufferPool {
    pairs: Vec<Pair>,
    /// A read buffer longer than this grew for a big request and is freed.
    read_size: usize,
}

impl BufferPool {
    /// An empty pool for connections whose read buffers start at `read_size` bytes.
    pub(crate) fn new(read_size: usize) -> BufferPool {
        BufferPool {
            pairs: Vec::new(),
            read_size,
        }
    }

    /// Buffer pairs held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Lend a pair to `conn` if it has none (a connection that has buffers keeps them).
    pub(crate) fn lend(&mut self, conn: &mut Connection) {
        if let Some((read, write)) = self.pairs.pop() {
            if let Some(unused) = conn.give_buffers(read, write) {
                self.pairs.push(unused);
            }
        }
    }

    /// Take `conn`'s buffers back if nothing is buffered in them.
    pub(crate) fn reclaim(&mut self, conn: &mut Connection) {
        if let Some(pair) = conn.take_buffers() {
            self.keep(pair);
        }
    }

    /// Keep a pair if it is of ordinary size (one grown for a big request is freed) and
    /// the pool has room.
    fn keep(&mut self, pair: Pair) {
        let (read, write) = &pair;
        let ordinary = read.len() <= self.read_size && write.capacity() <= POOLED_WRITE_CAPACITY;
        if read.capacity() > 0 && ordinary && self.pairs.len() < POOL_LIMIT {
            self.pairs.push(pair);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_ordinary_pairs_up_to_the_limit() {
        let mut pool = BufferPool::new(8);
        pool.keep((vec![0; 8], Vec::with_capacity(16)));
        assert_eq!(pool.len(), 1);
        // Grown for a big request, or never allocated: freed.
        pool.keep((vec![0; 16], Vec::new()));
        pool.keep((Vec::new(), Vec::new()));
        pool.keep((vec![0; 8], Vec::with_capacity(POOLED_WRITE_CAPACITY + 1)));
        assert_eq!(pool.len(), 1);
        for _ in 0..POOL_LIMIT + 5 {
            pool.keep((vec![0; 8], Vec::new()));
        }
        assert_eq!(pool.len(), POOL_LIMIT);
    }
}
