// A Conveyor worker in Node.js, using only the standard library (Node 18+ for fetch).
//
//   CONVEYOR_API=http://127.0.0.1:8000 CONVEYOR_TOKEN=... node worker.mjs images
//
// It long-polls a queue for tasks, runs a handler per task type, and reports the outcome
// with the lease token it was given. A long task would call /heartbeat before its lease
// runs out; a 409 on any report means the lease was lost and the result is discarded.

const api = process.env.CONVEYOR_API ?? "http://127.0.0.1:8000";
const token = process.env.CONVEYOR_TOKEN;
const queue = process.argv[2] ?? "default";
const maxTasks = Number(process.env.MAX_TASKS ?? Infinity);

const handlers = {
  // payload {"w": 100, "h": 50} → {"pixels": 5000}
  resize: async ({ w, h }) => ({ pixels: w * h }),
  shout: async ({ text }) => ({ text: String(text).toUpperCase() }),
};

async function call(path, body) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${api}${path}`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) {
    const error = new Error(`${path}: ${response.status} ${data.error?.message}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

async function work(task) {
  const handler = handlers[task.type];
  if (!handler) {
    await call(`/api/v1/tasks/${task.task_id}/fail`, {
      token: task.token,
      error: `no handler for type ${task.type} in the Node worker`,
      retry: false,
    });
    return;
  }
  try {
    const result = await handler(task.payload);
    await call(`/api/v1/tasks/${task.task_id}/complete`, { token: task.token, result });
    console.log(`completed ${task.task_id} (${task.type})`);
  } catch (err) {
    if (err.status === 409) {
      console.warn(`lease lost for ${task.task_id}; result discarded`);
      return;
    }
    await call(`/api/v1/tasks/${task.task_id}/fail`, {
      token: task.token,
      error: String(err?.message ?? err),
      traceback: String(err?.stack ?? ""),
      retry: true,
    });
  }
}

let done = 0;
while (done < maxTasks) {
  const { tasks } = await call(`/api/v1/queues/${queue}/lease`, {
    max: 10,
    lease_seconds: 30,
    wait_seconds: 10,
    worker_id: `node-${process.pid}`,
  });
  await Promise.all(tasks.map(work));
  done += tasks.length;
}
