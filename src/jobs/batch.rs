//! The queue in front of a group-commit writer (clicks, conversions): requests send jobs, a
//! writer thread takes every job waiting as one batch and writes it in one transaction. A
//! stop message closes the queue; what was queued before it is still written.

use std::collections::VecDeque;

use tokio::sync::mpsc;

enum Msg<J> {
    /// Jobs sent together (one, or a bundle from one sender).
    Jobs(Vec<J>),
    /// Write what is queued, then exit.
    Stop,
}

/// The sending side; cheap to clone.
pub struct Sender<J>(mpsc::Sender<Msg<J>>);

impl<J> Clone for Sender<J> {
    fn clone(&self) -> Self {
        Sender(self.0.clone())
    }
}

/// The writer's side.
pub struct Queue<J> {
    rx: mpsc::Receiver<Msg<J>>,
    /// Jobs of a bundle that did not fit in the last batch: the next one starts with them.
    carry: VecDeque<J>,
}

/// A queue holding at most `capacity` messages (a job or a bundle of jobs each; then senders
/// wait: back-pressure).
pub fn channel<J>(capacity: usize) -> (Sender<J>, Queue<J>) {
    let (tx, rx) = mpsc::channel(capacity);
    (
        Sender(tx),
        Queue {
            rx,
            carry: VecDeque::new(),
        },
    )
}

/// The writer has stopped: the job was not queued.
#[derive(Debug)]
pub struct Stopped;

impl<J> Sender<J> {
    pub async fn send(&self, job: J) -> Result<(), Stopped> {
        self.send_all(vec![job]).await
    }

    /// Queues several jobs as one message (the writer may still split them between two
    /// batches, in order). If the writer has stopped they are dropped.
    pub async fn send_all(&self, jobs: Vec<J>) -> Result<(), Stopped> {
        self.0.send(Msg::Jobs(jobs)).await.map_err(|_| Stopped)
    }

    /// Asks the writer to write what it holds and exit (used at shutdown).
    pub async fn stop(&self) {
        let _ = self.0.send(Msg::Stop).await;
    }
}

impl<J> Queue<J> {
    /// The next batch: waits for the first job, then takes what is waiting now, up to `max`.
    /// No idle wait: an idle writer answers a lone job at once, and jobs that arrive while a
    /// batch is written form the next one. `None` once the queue is stopped and empty (the
    /// batch that met the stop can be empty).
    pub fn next_batch(&mut self, max: usize) -> Option<Vec<J>> {
        let mut batch = Vec::new();
        if self.carry.is_empty() {
            let first = self.rx.blocking_recv()?;
            self.receive(first, &mut batch, max);
        }
        self.take_waiting(&mut batch, max);
        Some(batch)
    }

    /// Adds the jobs waiting now to `batch`, up to `max` in all, without waiting; whether any
    /// came. (A stop among them closes the queue: what was queued is still taken.)
    pub fn take_waiting(&mut self, batch: &mut Vec<J>, max: usize) -> bool {
        let before = batch.len();
        while batch.len() < max {
            if let Some(job) = self.carry.pop_front() {
                batch.push(job);
                continue;
            }
            match self.rx.try_recv() {
                Ok(m) => self.receive(m, batch, max),
                Err(_) => break,
            }
        }
        batch.len() > before
    }

    fn receive(&mut self, m: Msg<J>, batch: &mut Vec<J>, max: usize) {
        match m {
            Msg::Jobs(jobs) => {
                for job in jobs {
                    if batch.len() < max {
                        batch.push(job);
                    } else {
                        self.carry.push_back(job);
                    }
                }
            }
            Msg::Stop => self.rx.close(),
        }
    }
}

/// Runs one batch's write; if it panics, the writer lives on with a fresh connection (the
/// batch's requests, whose answers were dropped, get an error instead of waiting forever),
/// so one bad batch cannot stop every later write.
pub fn survive_panic<C>(what: &str, conn: &mut Option<C>, write: impl FnOnce(&mut Option<C>)) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(&mut *conn)));
    if result.is_err() {
        *conn = None;
        tracing::error!("the {what} writer panicked writing a batch; it goes on");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_take_what_waits_and_stop_drains_the_rest() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (tx, mut queue) = channel::<u32>(16);
        rt.block_on(async {
            for n in 0..5 {
                tx.send(n).await.unwrap();
            }
            tx.stop().await;
            tx.send(5).await.unwrap();
        });
        assert_eq!(queue.next_batch(3), Some(vec![0, 1, 2]));
        // The stop closes the queue; what was queued, even after it, is still taken.
        assert_eq!(queue.next_batch(3), Some(vec![3, 4, 5]));
        assert_eq!(queue.next_batch(3), None);
        assert!(
            rt.block_on(tx.send(6)).is_err(),
            "a stopped queue refuses jobs"
        );
    }

    #[test]
    fn late_jobs_join_a_batch_until_it_is_full() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (tx, mut queue) = channel::<u32>(16);
        rt.block_on(tx.send(0)).unwrap();
        let mut batch = queue.next_batch(3).unwrap();
        assert_eq!(batch, vec![0]);
        assert!(!queue.take_waiting(&mut batch, 3), "nothing waits yet");
        rt.block_on(async {
            for n in 1..5 {
                tx.send(n).await.unwrap();
            }
            tx.stop().await;
        });
        assert!(queue.take_waiting(&mut batch, 3));
        assert_eq!(batch, vec![0, 1, 2], "no more than the batch's room");
        assert!(queue.take_waiting(&mut batch, 10));
        assert_eq!(batch, vec![0, 1, 2, 3, 4]);
        // The stop it met closed the queue: nothing more is taken.
        assert_eq!(queue.next_batch(3), None);
    }

    #[test]
    fn a_bundle_too_big_for_a_batch_opens_the_next_one_in_order() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (tx, mut queue) = channel::<u32>(16);
        rt.block_on(async {
            tx.send_all(vec![0, 1, 2, 3, 4]).await.unwrap();
            tx.send(5).await.unwrap();
            tx.send_all(vec![6, 7]).await.unwrap();
            tx.stop().await;
        });
        assert_eq!(queue.next_batch(3), Some(vec![0, 1, 2]));
        let mut batch = queue.next_batch(4).unwrap();
        assert_eq!(
            batch,
            vec![3, 4, 5, 6],
            "the rest of the bundle comes first"
        );
        assert!(queue.take_waiting(&mut batch, 10));
        assert_eq!(batch, vec![3, 4, 5, 6, 7]);
        assert_eq!(queue.next_batch(3), None, "the stop closed the queue");
    }

    #[test]
    fn a_panicking_batch_drops_the_connection_and_the_writer_goes_on() {
        let mut conn = Some("connection");
        survive_panic("test", &mut conn, |_| panic!("a bad batch"));
        assert_eq!(conn, None, "a connection that saw a panic is not reused");
        let mut written = false;
        survive_panic("test", &mut conn, |c| {
            *c = Some("fresh");
            written = true;
        });
        assert!(written);
        assert_eq!(conn, Some("fresh"));
    }
}
