// One WebSocket per open conversation (/ws/conversations/{id}). Reconnects with backoff, because a
// restarted server or a sleeping laptop must not leave the chat dead; frames sent while the socket is
// (re)connecting wait in a small queue and go out once it is open.

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 8000;

export class ConversationSocket {
  /**
   * @param {string} conversationId
   * @param {{onEvent: (e: object) => void, onState: (state: string) => void, onReconnect: () => void}} handlers
   */
  constructor(conversationId, handlers) {
    this.conversationId = conversationId;
    this.handlers = handlers;
    this.queue = [];
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
      const pending = this.queue.splice(0);
      for (const frame of pending) ws.send(frame);
      if (reconnected) this.handlers.onReconnect();
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

  /** Sends a frame now, or as soon as the connection is open. */
  send(frame) {
    const text = JSON.stringify(frame);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
    else this.queue.push(text);
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close();
    this.ws = null;
  }
}
