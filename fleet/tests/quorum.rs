//! Quorum job queues on the machine's real RabbitMQ (own queue names): declared as quorum, with the
//! dead-letter queue too; a job given back every time is dead-lettered by the broker after the delivery
//! limit, into the same `<queue>.dlq` the worker's own dead-lettering uses; a queue that exists with the
//! other type is refused with an error that says so.

use std::process::Command;
use std::time::Duration;

use strata_fleet::LayerJob;
use strata_fleet::queue::{JobQueue, RabbitQueue};
use strata_fleet::queue_type::{QueueArgs, QueueType};
use strata_fleet::tls::TlsFiles;

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn job(n: u8) -> LayerJob {
    LayerJob {
        digest: format!("sha256:{}", format!("{n:02x}").repeat(32)),
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        size: 42,
        repository: "127.0.0.1:5000/app".into(),
        analyzer_version: 1,
        scan_id: "scan-1".into(),
        ..Default::default()
    }
}

/// Deletes the test's queues, even when it fails.
struct Queues(String);

impl Queues {
    fn new(what: &str) -> Queues {
        Queues(format!("strata-test.{what}.{}", uuid::Uuid::new_v4()))
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        for queue in [self.0.clone(), format!("{}.dlq", self.0)] {
            let _ = Command::new("rabbitmqctl").args(["-q", "delete_queue", &queue]).output();
        }
    }
}

/// `rabbitmqctl list_queues name type`: the type of `queue` as the broker reports it.
fn queue_type(queue: &str) -> String {
    let out = Command::new("rabbitmqctl").args(["-q", "list_queues", "name", "type"]).output().expect("rabbitmqctl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            (fields.next() == Some(queue)).then(|| fields.next().unwrap_or_default().to_string())
        })
        .unwrap_or_else(|| panic!("{queue} not in:\n{text}"))
}

fn quorum(limit: u16) -> QueueArgs {
    QueueArgs { queue_type: QueueType::Quorum, queue_delivery_limit: limit }
}

#[tokio::test]
async fn a_job_given_back_every_time_is_dead_lettered_after_the_delivery_limit() {
    let queues = Queues::new("quorum");
    let name = queues.0.clone();
    let queue = RabbitQueue::connect_with(AMQP, &name, &TlsFiles::default(), &quorum(2)).await.expect("RabbitMQ");
    assert_eq!(queue_type(&name), "quorum");
    assert_eq!(queue_type(&format!("{name}.dlq")), "quorum");

    queue.publish(&job(1), 0).await.expect("publish");
    let mut stream = queue.consume(1).await.expect("consume");
    let mut deliveries = 0;
    loop {
        // Each delivery is given back, as by a worker that dies on the job; the broker counts them.
        let next = tokio::select! {
            next = stream.next() => next,
            () = async { while queue.dead_letters().await.expect("dlq depth") == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            } } => break,
            () = tokio::time::sleep(Duration::from_secs(30)) => panic!("neither redelivered nor dead-lettered"),
        };
        let delivery = next.expect("stream open").expect("delivery");
        assert_eq!(delivery.job.digest, job(1).digest);
        deliveries += 1;
        assert!(deliveries <= 10, "still delivered after {deliveries} deliveries: no delivery limit");
        delivery.requeue(&queue).await.expect("requeue");
    }
    // A limit of 2 allows two returns: the job was delivered three times, then dead-lettered.
    assert_eq!(deliveries, 3);
    assert_eq!(queue.dead_letters().await.expect("dlq depth"), 1);
    assert_eq!(queue.depth().await.expect("depth"), 0);

    // The worker's own dead-lettering (after STRATA_MAX_ATTEMPTS failures) ends in the same queue.
    queue.dead_letter(&job(2), 3, "layer failed 3 times").await.expect("dead-letter");
    assert_eq!(queue.dead_letters().await.expect("dlq depth"), 2);
}

#[tokio::test]
async fn a_queue_of_the_other_type_is_refused_clearly() {
    let classic = Queues::new("was-classic");
    RabbitQueue::connect(AMQP, &classic.0).await.expect("RabbitMQ");
    assert_eq!(queue_type(&classic.0), "classic");
    let e = RabbitQueue::connect_with(AMQP, &classic.0, &TlsFiles::default(), &quorum(5)).await.err();
    let e = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains(&format!("queue {}", classic.0)) && e.contains("exists as a classic queue"), "{e}");
    assert!(e.contains("STRATA_QUEUE_TYPE is quorum"), "{e}");

    let was_quorum = Queues::new("was-quorum");
    RabbitQueue::connect_with(AMQP, &was_quorum.0, &TlsFiles::default(), &quorum(5)).await.expect("RabbitMQ");
    let e = RabbitQueue::connect(AMQP, &was_quorum.0).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("exists as a quorum queue") && e.contains("STRATA_QUEUE_TYPE is classic"), "{e}");
}
