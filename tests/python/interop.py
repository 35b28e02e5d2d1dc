"""The other side of tidings' wire, written with the CloudEvents Python SDK, pika and nats-py.

Run by tests/tests/interop_python.rs with the virtual environment `scripts/test` creates:

  interop.py publish URI EXCHANGE ROUTING_KEY FORM SOURCE FIRST COUNT
      publishes COUNT `tidings_tests.numbered` events (n = FIRST, FIRST + 1, ...) in FORM,
      each twice (a redelivery the consumer's inbox absorbs), ids `py-FORM-n`;
  interop.py read-relay URI QUEUE COUNT BINDING
      reads COUNT messages from QUEUE and parses each with the SDK's BINDING module
      (`amqp` or `rabbitmq`), one JSON line per event on standard output;
  interop.py nats-publish URL SUBJECT FORM SOURCE FIRST COUNT
      publishes COUNT `tidings_tests.numbered` events to SUBJECT of a JetStream stream in FORM
      (`nats-binary`: the SDK's HTTP binding in binary mode, whose `ce-` headers and
      Content-Type are the NATS binding's; `nats-structured`), each twice, ids `py-FORM-n`;
  interop.py nats-read-relay URL STREAM COUNT
      reads COUNT messages of STREAM and parses each with the SDK's HTTP binding, one JSON
      line per event on standard output;
  interop.py read-feed URL
      reads a page of the feed and parses each event with the SDK's JSON format;
  interop.py read-live URL COUNT
      reads COUNT server-sent events of the live tail, each parsed the same way.

Every failure is an exception, so the process exits non-zero with a traceback.
"""

import asyncio
import json
import sys
import urllib.request
from datetime import datetime, timezone

import nats
import pika
from cloudevents.core.bindings import amqp, http, rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

FORMS = (
    "amqp-binary",  # the SDK's AMQP binding: cloudEvents_ headers, time as integer ms
    "amqp-binary-colon",  # the same under the binding's other prefix, cloudEvents:
    "amqp-binary-timestamp",  # time as an AMQP timestamp (pika sends a datetime so)
    "rabbitmq-binary",  # the SDK's RabbitMQ binding: ce- headers, every value text
    "amqp-structured",  # application/cloudevents+json, the whole event in the body
    "rabbitmq-structured",
)


def event(form, source, n):
    return CloudEvent(
        attributes={
            "id": f"py-{form}-{n}",
            "source": source,
            "type": "tidings_tests.numbered",
            "time": datetime(2026, 12, 6, 18, 12, n % 60, 250000, tzinfo=timezone.utc),
            "datacontenttype": "application/json",
            "subject": f"order-{n}",
            "priority": n % 2 == 0,
            "attempt": n,
            "region": "eu-ünïcode",
        },
        data={"n": n},
    )


def message(form, ev):
    """The pika properties and body of `ev` in `form`."""
    if form.startswith("amqp-"):
        m = (amqp.to_structured_event if form.endswith("structured") else amqp.to_binary_event)(ev)
        headers = dict(m.application_properties)
        if form == "amqp-binary-colon":
            headers = {k.replace("cloudEvents_", "cloudEvents:", 1): v for k, v in headers.items()}
        if form == "amqp-binary-timestamp":
            headers["cloudEvents_time"] = ev.get_time().replace(microsecond=0)
        content_type = m.properties.get("content-type")
        return pika.BasicProperties(content_type=content_type, headers=headers), m.application_data
    m = (rabbitmq.to_structured_event if form.endswith("structured") else rabbitmq.to_binary_event)(ev)
    return pika.BasicProperties(content_type=m.content_type, headers=dict(m.headers)), m.body


def publish(uri, exchange, routing_key, form, source, first, count):
    if form not in FORMS:
        raise SystemExit(f"unknown form {form}: one of {FORMS}")
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    channel = connection.channel()
    channel.confirm_delivery()
    for n in range(int(first), int(first) + int(count)):
        properties, body = message(form, event(form, source, n))
        for _ in range(2):
            channel.basic_publish(exchange, routing_key, body, properties, mandatory=True)
    connection.close()


def describe(ev):
    return {
        "id": ev.get_id(),
        "source": ev.get_source(),
        "type": ev.get_type(),
        "time": ev.get_time().isoformat() if ev.get_time() else None,
        "subject": ev.get_subject(),
        "typeversion": ev.get_extension("typeversion"),
        "correlationid": ev.get_extension("correlationid"),
        "data": ev.get_data(),
    }


def read_relay(uri, queue, count, binding):
    connection = pika.BlockingConnection(pika.URLParameters(uri))
    channel = connection.channel()
    read = 0
    for method, properties, body in channel.consume(queue, inactivity_timeout=30):
        if method is None:
            raise SystemExit(f"no message within 30 s after {read} of {count}")
        if binding == "amqp":
            props = {"content-type": properties.content_type} if properties.content_type else {}
            msg = amqp.AMQPMessage(properties=props, application_properties=properties.headers or {}, application_data=body)
            ev = amqp.from_amqp_event(msg)
        else:
            msg = rabbitmq.RabbitMQMessage(headers=properties.headers or {}, content_type=properties.content_type, body=body)
            ev = rabbitmq.from_rabbitmq_event(msg)
        print(json.dumps(describe(ev)), flush=True)
        channel.basic_ack(method.delivery_tag)
        read += 1
        if read == int(count):
            break
    connection.close()


NATS_FORMS = ("nats-binary", "nats-structured")


def nats_publish(url, subject, form, source, first, count):
    if form not in NATS_FORMS:
        raise SystemExit(f"unknown form {form}: one of {NATS_FORMS}")

    async def run():
        client = await nats.connect(url)
        stream = client.jetstream()
        for n in range(int(first), int(first) + int(count)):
            ev = event(form, source, n)
            m = (http.to_structured_event if form.endswith("structured") else http.to_binary_event)(ev)
            for _ in range(2):
                # No message id: the stream keeps both, and the consumer's inbox absorbs one.
                await stream.publish(subject, m.body, headers=dict(m.headers))
        await client.close()

    asyncio.run(run())


def nats_read_relay(url, stream_name, count):
    async def run():
        client = await nats.connect(url)
        stream = client.jetstream()
        reader = await stream.pull_subscribe(f"{stream_name}.>", durable="python-reader", stream=stream_name)
        read = 0
        while read < int(count):
            for msg in await reader.fetch(int(count) - read, timeout=30):
                ev = http.from_http_event(http.HTTPMessage(headers=dict(msg.headers or {}), body=msg.data))
                print(json.dumps(describe(ev)), flush=True)
                await msg.ack()
                read += 1
        await client.close()

    asyncio.run(run())


def parse(document):
    return JSONFormat().read(None, json.dumps(document).encode())


def read_feed(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        page = json.load(response)
    for document in page["events"]:
        print(json.dumps(describe(parse(document))), flush=True)


def read_live(url, count):
    read = 0
    with urllib.request.urlopen(url, timeout=30) as response:
        for line in response:
            line = line.decode().rstrip("\n")
            if line.startswith("data:"):
                print(json.dumps(describe(parse(json.loads(line[5:].strip())))), flush=True)
                read += 1
                if read == int(count):
                    return


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    {
        "publish": publish,
        "read-relay": read_relay,
        "nats-publish": nats_publish,
        "nats-read-relay": nats_read_relay,
        "read-feed": read_feed,
        "read-live": read_live,
    }[command](*arguments)
