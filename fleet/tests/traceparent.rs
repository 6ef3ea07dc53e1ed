//! The trace context of a layer job through the machine's real RabbitMQ: published as the W3C
//! `traceparent` message header (read back raw, as any AMQP tool sees it), and taken from that header on
//! consumption even when the job itself does not carry it.

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use strata_fleet::LayerJob;
use strata_fleet::queue::{JobQueue, RabbitQueue};

const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn job(traceparent: &str) -> LayerJob {
    LayerJob {
        digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111".into(),
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
        size: 42,
        repository: "127.0.0.1:5000/app".into(),
        analyzer_version: 1,
        scan_id: "scan-1".into(),
        traceparent: traceparent.into(),
        ..Default::default()
    }
}

async fn delete(channel: &lapin::Channel, name: &str) {
    for queue in [name.to_string(), format!("{name}.dlq")] {
        let _ = channel.queue_delete(ShortString::from(queue), QueueDeleteOptions::default()).await;
    }
}

#[tokio::test]
async fn traceparent_survives_the_rabbitmq_header_round_trip() {
    let name = format!("strata-test.traceparent.{}", uuid::Uuid::new_v4());
    let queue = RabbitQueue::connect(AMQP, &name).await.expect("RabbitMQ");
    let connection = Connection::connect(AMQP, ConnectionProperties::default()).await.expect("connect");
    let raw = connection.create_channel().await.expect("channel");

    // Published by the fleet: the header as a plain AMQP consumer receives it.
    queue.publish(&job(TRACEPARENT), 0).await.expect("publish");
    let mut consumer = raw
        .basic_consume(
            ShortString::from(name.clone()),
            ShortString::from("raw"),
            BasicConsumeOptions { no_ack: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let delivery = tokio::time::timeout(std::time::Duration::from_secs(10), consumer.next())
        .await
        .expect("a message within 10 s")
        .expect("a message")
        .expect("delivery");
    let header = delivery.properties.headers().as_ref().and_then(|h| h.inner().get("traceparent").cloned());
    match header {
        Some(AMQPValue::LongString(value)) => assert_eq!(value.as_bytes(), TRACEPARENT.as_bytes()),
        other => panic!("traceparent header: {other:?}"),
    }
    raw.basic_cancel(ShortString::from("raw"), Default::default()).await.expect("cancel");

    // Published by another producer with the header only: the worker still gets the context.
    let mut headers = FieldTable::default();
    headers.insert(ShortString::from("traceparent"), AMQPValue::LongString(TRACEPARENT.into()));
    raw.basic_publish(
        ShortString::from(""),
        ShortString::from(name.clone()),
        BasicPublishOptions::default(),
        &strata_fleet::codec::encode_job(&job("")),
        BasicProperties::default().with_headers(headers),
    )
    .await
    .expect("publish raw")
    .await
    .expect("confirm");
    let mut stream = queue.consume(1).await.expect("consume");
    let delivery = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("a job within 10 s")
        .expect("a job")
        .expect("delivery");
    assert_eq!(delivery.job.traceparent, TRACEPARENT);
    assert_eq!(delivery.job.scan_id, "scan-1");
    delivery.ack().await.expect("ack");

    // A job without a trace context comes back without one.
    queue.publish(&job(""), 0).await.expect("publish");
    let delivery = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("a job within 10 s")
        .expect("a job")
        .expect("delivery");
    assert_eq!(delivery.job.traceparent, "");
    delivery.ack().await.expect("ack");

    drop(stream);
    delete(&raw, &name).await;
}
