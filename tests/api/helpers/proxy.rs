//! A TCP forwarder between the app and a dependency, to make the dependency slow or make
//! it vanish (its port closed) while the app runs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct TcpProxy {
    addr: SocketAddr,
    delay: Arc<Mutex<Duration>>,
    forwarded: Arc<AtomicU64>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl TcpProxy {
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let delay = Arc::new(Mutex::new(Duration::ZERO));
        let forwarded = Arc::new(AtomicU64::new(0));
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (accept_delay, accept_tasks) = (delay.clone(), tasks.clone());
        let accept_forwarded = forwarded.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                let delay = accept_delay.clone();
                let counter = accept_forwarded.clone();
                let task = tokio::spawn(forward(client, server, delay, counter));
                accept_tasks.lock().expect("tasks lock").push(task);
            }
        });
        tasks.lock().expect("tasks lock").push(acceptor);
        Self {
            addr,
            delay,
            forwarded,
            tasks,
        }
    }

    /// How many reads from the app this proxy has received so far.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::SeqCst)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Delays every request passing from the app to the dependency.
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().expect("delay lock") = delay;
    }

    /// Closes the port and every open connection, as if the dependency went down.
    pub fn close(&self) {
        for task in self.tasks.lock().expect("tasks lock").drain(..) {
            task.abort();
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.close();
    }
}

async fn forward(
    client: TcpStream,
    server: TcpStream,
    delay: Arc<Mutex<Duration>>,
    forwarded: Arc<AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            forwarded.fetch_add(1, Ordering::SeqCst);
            let pause = *delay.lock().expect("delay lock");
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            if server_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    };
    let downstream = tokio::io::copy(&mut server_read, &mut client_write);
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}
