//! The device's MDM client as a state machine: it produces requests and consumes responses, and
//! does no I/O (drive it with `HttpDriver`, a `tower` service, or by hand).

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use mdm_enrollment::EnrollId;
use mdm_proto::plist::Dictionary;
use mdm_proto::{Command, ErrorChainEntry, Raw, Status};

use crate::Error;
use crate::device::{Channel, Device};
use crate::identity::{CertPresentation, Identity};
use crate::message::{self, Message, Report};
use crate::request::{MdmPayload, Request, Response};
use crate::results::{self, ChannelRecord};

/// How the device answers a command.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Answer {
    /// Run it as a device of this kind would: `Acknowledged` with plausible result keys for the
    /// common `RequestType`s (`DeviceInformation` with its `Queries`, `ProfileList`,
    /// `InstalledApplicationList` …), `Error` for a `RequestType` the simulator does not know.
    Run,
    /// `Acknowledged` with exactly these result keys.
    Acknowledged(Dictionary),
    /// `NotNow`: the server keeps the command and sends it again on a later check-in.
    NotNow,
    /// `Error` with this `ErrorChain`.
    Error(Vec<ErrorChainEntry>),
    /// `CommandFormatError` with this `ErrorChain`.
    CommandFormatError(Vec<ErrorChainEntry>),
}

/// What one response meant to the device.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The server accepted a check-in.
    CheckIn {
        /// The channel it came from.
        channel: Channel,
        /// Its `MessageType`.
        message_type: &'static str,
        /// The response body (a bootstrap token, declarative-management data …; often empty).
        body: Bytes,
    },
    /// The server accepted a command report and answered with the next command or nothing. The
    /// device answers that command on its next request.
    Report {
        /// The channel it came from.
        channel: Channel,
        /// The `Status` the device sent.
        status: Status,
        /// The `CommandUUID` the report was for (none on `Idle`).
        command_uuid: Option<String>,
        /// The next command, if the server sent one.
        next_command: Option<Raw<Command>>,
    },
}

/// One simulated device's MDM client: what it has queued to send, what it sent and is waiting
/// for, which channels are enrolled, and how it answers commands.
///
/// It works like `quinn-proto`: queue work ([`enroll`](Self::enroll),
/// [`check_in`](Self::check_in), [`check_out`](Self::check_out), [`queue`](Self::queue)), then
/// loop taking [`poll_request`](Self::poll_request), sending it however you like, and handing the
/// answer to [`handle_response`](Self::handle_response) — which may queue the answer to a command
/// the server sent. One request is in flight at a time, as on a device.
///
/// ```
/// use mdm_sim::{Channel, Device, DeviceKind, Event, MdmClient, MdmPayload, Response};
///
/// let device = Device::generate(DeviceKind::Ios, 1);
/// let payload = MdmPayload::new("https://mdm.example/mdm", "com.apple.mgmt.External.x");
/// let mut client = MdmClient::new(device, payload);
/// client.enroll();
/// while let Some(_request) = client.poll_request().unwrap() {
///     // Send `request` to a server here; this one accepts everything and queues nothing.
///     client.handle_response(Response::new(200, "")).unwrap();
/// }
/// assert!(client.is_enrolled(Channel::Device));
/// ```
#[derive(Clone, Debug)]
pub struct MdmClient {
    device: Device,
    payload: MdmPayload,
    identity: Option<Identity>,
    presentation: CertPresentation,
    queue: VecDeque<(Channel, Message)>,
    in_flight: Option<(Channel, Message)>,
    enrolled: [bool; 2],
    records: [ChannelRecord; 2],
    next_answers: VecDeque<Answer>,
    answers_by_type: HashMap<String, Answer>,
}

impl MdmClient {
    /// A client for `device`, enrolled (once [`enroll`](Self::enroll) has run) with the profile
    /// `payload`. It sends unsigned requests until given an identity.
    pub fn new(device: Device, payload: MdmPayload) -> Self {
        Self {
            device,
            payload,
            identity: None,
            presentation: CertPresentation::MdmSignature,
            queue: VecDeque::new(),
            in_flight: None,
            enrolled: [false; 2],
            records: Default::default(),
            next_answers: VecDeque::new(),
            answers_by_type: HashMap::new(),
        }
    }

    /// Signs every request with `identity`, presented as `presentation` says.
    pub fn with_identity(mut self, identity: Identity, presentation: CertPresentation) -> Self {
        self.identity = Some(identity);
        self.presentation = presentation;
        self
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The device, to change a fact (OS version, push token …) before the next message.
    pub fn device_mut(&mut self) -> &mut Device {
        &mut self.device
    }

    /// The profile settings the device follows.
    pub fn payload(&self) -> &MdmPayload {
        &self.payload
    }

    /// Replaces the MDM payload, as a device does when a new profile for another server URL (or
    /// check-in URL) is installed over the old one; what the client had queued is kept.
    pub fn set_payload(&mut self, payload: MdmPayload) {
        self.payload = payload;
    }

    /// The identity requests are signed with, if any.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The enrollment id of `channel`, as a server files it.
    pub fn enroll_id(&self, channel: Channel) -> Option<EnrollId> {
        self.device.enroll_id(channel)
    }

    /// Whether the server accepted `channel`'s `TokenUpdate` since the last `Authenticate` or
    /// `CheckOut`.
    pub fn is_enrolled(&self, channel: Channel) -> bool {
        self.enrolled[channel.index()]
    }

    /// Whether nothing is queued or in flight.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight.is_none()
    }

    /// Queues an enrollment: `Authenticate`, the device channel's `TokenUpdate`, then the user
    /// channel's. Calling it again re-enrolls (the server forgets the old enrollment on
    /// `Authenticate`).
    pub fn enroll(&mut self) {
        self.queue
            .push_back((Channel::Device, Message::Authenticate));
        for channel in self.device.channels() {
            self.queue.push_back((channel, Message::TokenUpdate));
        }
    }

    /// Queues an `Idle` report on `channel`, as a device does when a push wakes it; the
    /// server's answer starts the command exchange.
    pub fn check_in(&mut self, channel: Channel) {
        self.queue
            .push_back((channel, Message::Report(Report::idle())));
    }

    /// Queues a `CheckOut` (the MDM profile is being removed).
    pub fn check_out(&mut self) {
        self.queue.push_back((Channel::Device, Message::CheckOut));
    }

    /// Queues any message on `channel`.
    pub fn queue(&mut self, channel: Channel, message: Message) {
        self.queue.push_back((channel, message));
    }

    /// Answers the next command the server sends with `answer`, whatever its `RequestType`.
    /// Several calls answer the next several commands.
    pub fn answer_next(&mut self, answer: Answer) {
        self.next_answers.push_back(answer);
    }

    /// Answers every command of `request_type` with `answer` (until changed); [`Answer::Run`]
    /// restores the default.
    pub fn set_answer(&mut self, request_type: impl Into<String>, answer: Answer) {
        self.answers_by_type.insert(request_type.into(), answer);
    }

    /// The next request to send, signed; `None` when nothing is queued or a request is still
    /// waiting for its response. A queued message that cannot be built or signed (a user-channel
    /// message on a device without one) is dropped with the error.
    pub fn poll_request(&mut self) -> Result<Option<Request>, Error> {
        if self.in_flight.is_some() {
            return Ok(None);
        }
        let Some((channel, message)) = self.queue.pop_front() else {
            return Ok(None);
        };
        let request = self
            .build_request(channel, &message)
            .and_then(|r| self.sign(r))?;
        self.in_flight = Some((channel, message));
        Ok(Some(request))
    }

    /// Builds the unsigned request for `message` on `channel`, without queueing anything. With
    /// [`sign`](Self::sign) this prepares requests ahead of time (a load generator signs each
    /// device's `Idle` once and sends it many times).
    pub fn build_request(&self, channel: Channel, message: &Message) -> Result<Request, Error> {
        let body = message::body(&self.device, channel, &self.payload.topic, message)?;
        let url = if message.is_check_in() {
            self.payload.check_in_url().clone()
        } else {
            self.payload.server_url.clone()
        };
        Ok(Request::new(
            url,
            message.is_check_in(),
            body,
            channel,
            message.static_name(),
        ))
    }

    /// Signs `request` with the client's identity, presented as configured (a no-op without an
    /// identity).
    pub fn sign(&self, request: Request) -> Result<Request, Error> {
        match &self.identity {
            Some(identity) => identity.present(request, &self.presentation),
            None => Ok(request),
        }
    }

    /// Consumes the response to the request last returned by
    /// [`poll_request`](Self::poll_request).
    ///
    /// A status other than 2xx fails the exchange: the error says what was refused, and
    /// everything still queued is dropped (a device whose `Authenticate` is refused sends no
    /// `TokenUpdate`). A 200 to a report with a body that is not a command is an error too.
    pub fn handle_response(&mut self, response: Response) -> Result<Event, Error> {
        let (channel, message) = self.in_flight.take().ok_or(Error::NoRequestInFlight)?;
        if !(200..300).contains(&response.status) {
            self.queue.clear();
            return Err(Error::Refused {
                channel,
                sent: message.name().to_owned(),
                status: response.status,
                body: response.body,
            });
        }
        match message {
            Message::Report(report) => self.handle_report(channel, report, response.body),
            m => {
                match m {
                    Message::Authenticate => self.enrolled = [false; 2],
                    Message::TokenUpdate => self.enrolled[channel.index()] = true,
                    Message::CheckOut if channel == Channel::Device => {
                        self.enrolled = [false; 2];
                        self.queue.clear();
                    }
                    Message::CheckOut => self.enrolled[channel.index()] = false,
                    _ => {}
                }
                Ok(Event::CheckIn {
                    channel,
                    message_type: m.check_in_type().unwrap_or_default(),
                    body: response.body,
                })
            }
        }
    }

    /// Forgets the request in flight after it failed to reach the server (connection refused,
    /// timeout), and everything queued after it.
    pub fn abort(&mut self) {
        self.in_flight = None;
        self.queue.clear();
    }

    fn handle_report(
        &mut self,
        channel: Channel,
        report: Report,
        body: Bytes,
    ) -> Result<Event, Error> {
        // Servers answer "nothing queued" with an empty body; tolerate stray whitespace too.
        let next_command = if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            let command = Command::decode(body).map_err(Error::MalformedCommand)?;
            let answer = self.answer(channel, &command);
            // The answer goes out next, before anything queued meanwhile, as on a device.
            self.queue.push_front((channel, Message::Report(answer)));
            Some(command)
        };
        Ok(Event::Report {
            channel,
            status: report.status,
            command_uuid: report.command_uuid,
            next_command,
        })
    }

    fn answer(&mut self, channel: Channel, command: &Raw<Command>) -> Report {
        let answer = self
            .next_answers
            .pop_front()
            .or_else(|| self.answers_by_type.get(&command.request_type).cloned())
            .unwrap_or(Answer::Run);
        let uuid = command.command_uuid.clone();
        match answer {
            Answer::Run => {
                let mut ctx = results::Context {
                    device: &self.device,
                    topic: &self.payload.topic,
                    identity: self.identity.as_ref().map(Identity::certificate),
                    record: &mut self.records[channel.index()],
                };
                results::run(&mut ctx, command)
            }
            Answer::Acknowledged(results) => Report::acknowledged(uuid, results),
            Answer::NotNow => Report::not_now(uuid),
            Answer::Error(chain) => Report::error(uuid, chain),
            Answer::CommandFormatError(chain) => Report::command_format_error(uuid, chain),
        }
    }
}
