//! The nodes a world runs: one enum over the core's node types, how each is built, and what of
//! it survives a crash.

use crate::scenario::PipelineOutput;
use gregor_core::broker::{Broker, BrokerDisk};
use gregor_core::client::consumer::{Consumer, ConsumerWorkload};
use gregor_core::client::pipeline::Pipeline;
use gregor_core::client::producer::{Producer, Workload};
use gregor_core::config::{BrokerConfig, ConsumerConfig, EffectiveProducerConfig};
use gregor_core::controller::{Controller, ControllerDisk};
use gregor_core::ids::{BrokerId, ClientId, NodeId};
use gregor_core::node::{Input, Node, Output};
use gregor_core::rng::derive_seed;
use gregor_core::time::Instant;

/// How to build a node (again, after a crash).
#[derive(Clone, Debug, PartialEq)]
pub enum NodeSpec {
    /// The controller.
    Controller {
        /// Its configuration.
        config: BrokerConfig,
    },
    /// A broker.
    Broker {
        /// Its id.
        id: BrokerId,
        /// Its configuration.
        config: BrokerConfig,
    },
    /// A producer.
    Producer {
        /// Its client id.
        id: ClientId,
        /// Its name (the prefix of its record values).
        name: String,
        /// Its configuration.
        config: EffectiveProducerConfig,
        /// What it sends.
        workload: Workload,
        /// Bootstrap brokers.
        bootstrap: Vec<BrokerId>,
    },
    /// An assign-mode consumer.
    Consumer {
        /// Its client id.
        id: ClientId,
        /// Its name.
        name: String,
        /// Its configuration.
        config: ConsumerConfig,
        /// The partitions it reads.
        workload: ConsumerWorkload,
        /// Bootstrap brokers.
        bootstrap: Vec<BrokerId>,
        /// For a consume-transform-produce pipeline, its producer half.
        output: Option<PipelineOutput>,
    },
}

/// What survives a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Disk {
    /// A client keeps nothing.
    #[default]
    None,
    /// The controller's metadata log.
    Controller(ControllerDisk),
    /// A broker's logs.
    Broker(BrokerDisk),
    /// How many values a producer (or a pipeline's producer half) created. A client keeps
    /// nothing, and a restarted one begins a new session; this is the test harness's count,
    /// kept beside the client as a Jepsen generator keeps its own, so that the next
    /// incarnation numbers its values on from it and every value of a run names one send
    /// ([`Producer::number_values_from`]).
    Producer {
        /// Values created so far by every incarnation.
        values_created: u64,
    },
}

impl NodeSpec {
    /// The node's id.
    pub fn node_id(&self) -> NodeId {
        match self {
            NodeSpec::Controller { .. } => NodeId::Controller,
            NodeSpec::Broker { id, .. } => NodeId::Broker(*id),
            NodeSpec::Producer { id, .. } | NodeSpec::Consumer { id, .. } => NodeId::Client(*id),
        }
    }

    /// The seed of incarnation `incarnation` of this node under `master`: each start of a node
    /// draws from its own stream, so a restart never shifts another node's draws.
    pub fn seed(&self, master: u64, incarnation: u32) -> u64 {
        derive_seed(master, &format!("{}#{incarnation}", self.node_id()))
    }

    /// Builds the node from what its disk kept.
    pub fn build(&self, disk: Disk, seed: u64) -> AnyNode {
        let values_from = match disk {
            Disk::Producer { values_created } => values_created,
            _ => 0,
        };
        match self {
            NodeSpec::Controller { config } => {
                let disk = match disk {
                    Disk::Controller(d) => d,
                    _ => ControllerDisk::default(),
                };
                AnyNode::Controller(Box::new(Controller::new(config.clone(), disk)))
            }
            NodeSpec::Broker { id, config } => {
                let disk = match disk {
                    Disk::Broker(d) => d,
                    _ => BrokerDisk::default(),
                };
                AnyNode::Broker(Box::new(Broker::new(*id, config.clone(), disk, seed)))
            }
            NodeSpec::Producer {
                id,
                name,
                config,
                workload,
                bootstrap,
            } => {
                let mut producer = Producer::new(
                    *id,
                    name.clone(),
                    config.clone(),
                    workload.clone(),
                    bootstrap.clone(),
                    seed,
                );
                producer.number_values_from(values_from);
                AnyNode::Producer(Box::new(producer))
            }
            NodeSpec::Consumer {
                id,
                name,
                config,
                workload,
                bootstrap,
                output,
            } => {
                let consumer = Consumer::new(
                    *id,
                    name.clone(),
                    config.clone(),
                    workload.clone(),
                    bootstrap.clone(),
                    seed,
                );
                match output {
                    None => AnyNode::Consumer(Box::new(consumer)),
                    Some(o) => {
                        let mut producer = Producer::new(
                            *id,
                            name.clone(),
                            o.config.clone(),
                            o.workload.clone(),
                            bootstrap.clone(),
                            derive_seed(seed, "producer"),
                        );
                        producer.number_values_from(values_from);
                        AnyNode::Pipeline(Box::new(Pipeline::new(consumer, producer)))
                    }
                }
            }
        }
    }
}

/// Any node.
#[derive(Debug)]
pub enum AnyNode {
    /// The controller.
    Controller(Box<Controller>),
    /// A broker.
    Broker(Box<Broker>),
    /// A producer.
    Producer(Box<Producer>),
    /// A consumer.
    Consumer(Box<Consumer>),
    /// A consume-transform-produce pipeline: a consumer and a transactional producer.
    Pipeline(Box<Pipeline>),
}

impl AnyNode {
    /// What survives when this node's process dies.
    pub fn into_disk(self) -> Disk {
        match self {
            AnyNode::Controller(c) => Disk::Controller(c.into_disk()),
            AnyNode::Broker(b) => Disk::Broker(b.into_disk()),
            AnyNode::Producer(p) => Disk::Producer {
                values_created: p.records_created(),
            },
            AnyNode::Pipeline(p) => Disk::Producer {
                values_created: p.producer().records_created(),
            },
            AnyNode::Consumer(_) => Disk::None,
        }
    }

    /// The broker, if this is one.
    pub fn as_broker(&self) -> Option<&Broker> {
        match self {
            AnyNode::Broker(b) => Some(b),
            _ => None,
        }
    }

    /// The controller, if this is it.
    pub fn as_controller(&self) -> Option<&Controller> {
        match self {
            AnyNode::Controller(c) => Some(c),
            _ => None,
        }
    }

    /// The producer, if this is one (or a pipeline's).
    pub fn as_producer(&self) -> Option<&Producer> {
        match self {
            AnyNode::Producer(p) => Some(p),
            AnyNode::Pipeline(p) => Some(p.producer()),
            _ => None,
        }
    }

    /// The consumer, if this is one (or a pipeline's).
    pub fn as_consumer(&self) -> Option<&Consumer> {
        match self {
            AnyNode::Consumer(c) => Some(c),
            AnyNode::Pipeline(p) => Some(p.consumer()),
            _ => None,
        }
    }
}

impl Node for AnyNode {
    fn handle(&mut self, now: Instant, input: Input) {
        match self {
            AnyNode::Controller(n) => n.handle(now, input),
            AnyNode::Broker(n) => n.handle(now, input),
            AnyNode::Producer(n) => n.handle(now, input),
            AnyNode::Consumer(n) => n.handle(now, input),
            AnyNode::Pipeline(n) => n.handle(now, input),
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        match self {
            AnyNode::Controller(n) => n.poll_output(),
            AnyNode::Broker(n) => n.poll_output(),
            AnyNode::Producer(n) => n.poll_output(),
            AnyNode::Consumer(n) => n.poll_output(),
            AnyNode::Pipeline(n) => n.poll_output(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            AnyNode::Controller(n) => n.poll_timeout(),
            AnyNode::Broker(n) => n.poll_timeout(),
            AnyNode::Producer(n) => n.poll_timeout(),
            AnyNode::Consumer(n) => n.poll_timeout(),
            AnyNode::Pipeline(n) => n.poll_timeout(),
        }
    }
}
