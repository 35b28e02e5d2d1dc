//! The chain of messages and handlers that led to the message being handled.

/// Each link is a message's wire name and the handler of it that published or sent the next.
#[derive(Clone, Default, Debug)]
pub(crate) struct Lineage {
    links: Vec<(&'static str, &'static str)>,
}

impl Lineage {
    pub(crate) fn depth(&self) -> usize {
        self.links.len()
    }

    pub(crate) fn links(&self) -> &[(&'static str, &'static str)] {
        &self.links
    }

    /// The lineage of what `handler`, handling `message`, publishes or sends.
    pub(crate) fn child(&self, message: &'static str, handler: &'static str) -> Lineage {
        let mut links = Vec::with_capacity(self.links.len() + 1);
        links.extend_from_slice(&self.links);
        links.push((message, handler));
        Lineage { links }
    }
}
