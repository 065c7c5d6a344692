// Package servicebus is seatsync's Service Bus adapter: a seatsync.Queue on
// azservicebus that the fan-out sends its tenant-sync messages through in
// Azure (standalone mode sends the same messages to tables.Queue).
//
// Each seatsync.Message becomes one Service Bus message with MessageID =
// Message.ID, Body = Message.Body, ContentType "application/json", Subject
// "tenant-sync" and ApplicationProperties = Message.Properties. The queue is
// created with duplicate detection (Standard tier or above; Basic has none),
// so a message sent again with the same ID within the detection window is
// dropped by Service Bus: a fan-out that failed part way can send every
// message again.
//
// Send validates every message before sending any: the ID is 1 to 128
// bytes of UTF-8, the body is valid JSON of at most MaxBodyBytes, and the
// properties are strings, numbers and bools only. It then fills batches
// (Sender.NewMessageBatch, MessageBatch.AddMessage) in order, sending a
// batch when the next message does not fit. Retries are the SDK's own
// (azservicebus.ClientOptions.RetryOptions). Every Send error is a
// *SendError naming the queue and how many of the messages, in order, were
// sent before the failure; errors never hold a message body.
//
// Tests use NewWithSender with a fake Sender; the batching logic is behind a
// small internal interface because an *azservicebus.MessageBatch that holds
// anything can only be made by a connected Sender.
package servicebus
