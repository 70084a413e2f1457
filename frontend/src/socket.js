// One WebSocket per open conversation (/ws/conversations/{id}). Reconnects with backoff, because a
// restarted server or a sleeping laptop must not leave the chat dead. It never queues frames itself: send() refuses
// while the connection is down, and the app keeps such messages in its visible outbox until onOpen says it is back
// (a reconnect keeps this object: the app refreshes the messages over REST and then sends its outbox).

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 8000;

export class ConversationSocket {
  /**
   * @param {string} conversationId
   * @param {{onEvent: (e: object) => void, onState: (state: string) => void, onOpen: (reconnected: boolean) => void}} handlers
   */
  constructor(conversationId, handlers) {
    this.conversationId = conversationId;
    this.handlers = handlers;
    this.closed = false;
    this.delay = MIN_DELAY_MS;
    this.everOpened = false;
    this.ws = null;
    this.retryTimer = null;
    this.connect();
  }

  url() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    return `${scheme}://${location.host}/ws/conversations/${encodeURIComponent(this.conversationId)}`;
  }

  connect() {
    if (this.closed) return;
    this.handlers.onState('connecting');
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (ws !== this.ws) return;
      this.delay = MIN_DELAY_MS;
      this.handlers.onState('online');
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.handlers.onOpen(reconnected);
    });
    ws.addEventListener('message', (msg) => {
      if (ws !== this.ws) return;
      let event;
      try {
        event = JSON.parse(msg.data);
      } catch {
        return; // the contract says JSON text frames; anything else is ignored rather than shown raw
      }
      this.handlers.onEvent(event);
    });
    ws.addEventListener('close', () => {
      if (ws !== this.ws || this.closed) return;
      this.handlers.onState('offline');
      this.retryTimer = setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(MAX_DELAY_MS, this.delay * 2);
    });
  }

  /** Whether a frame sent now reaches the server's socket. */
  isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a frame now; false (nothing sent) while the connection is down. */
  send(frame) {
    if (!this.isOpen()) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close();
    this.ws = null;
  }
}
