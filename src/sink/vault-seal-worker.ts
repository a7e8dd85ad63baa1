// The sealing thread of `etl run` (see vault-sealer.ts): seals each batch it is sent with the
// vault key it was started with, and answers with the bytes, or with the error's message.
import { parentPort, workerData } from "node:worker_threads";
import { createVaultCipher } from "./vault-cipher.js";
import {
  decodeSealRequest,
  SEALER_READY,
  type SealReply,
  type SealRequest,
  sealReply,
} from "./vault-sealer.js";

const { vaultKey } = workerData as { vaultKey: Uint8Array };
const cipher = createVaultCipher(Buffer.from(vaultKey));
parentPort?.postMessage(SEALER_READY);

parentPort?.on("message", (request: SealRequest) => {
  let reply: ReturnType<typeof sealReply>;
  try {
    reply = sealReply(request.id, cipher.sealAll(decodeSealRequest(request)));
  } catch (err) {
    parentPort?.postMessage({
      id: request.id,
      error: err instanceof Error ? err.message : String(err),
    } satisfies SealReply);
    return;
  }
  parentPort?.postMessage(reply, [reply.bytes.buffer, reply.lengths.buffer]);
});
