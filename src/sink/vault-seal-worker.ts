// The sealing thread of `etl run` (see vault-sealer.ts): seals each batch it is sent with the
// vault key it was started with, and answers with the bytes, or with the error's message.
import { parentPort, workerData } from "node:worker_threads";
import { createVaultCipher } from "./vault-cipher.js";
import {
  decodeSealRequest,
  packSealed,
  SEALER_READY,
  type SealReply,
  type SealRequest,
} from "./vault-sealer.js";

const { vaultKey } = workerData as { vaultKey: Uint8Array };
const cipher = createVaultCipher(Buffer.from(vaultKey));
parentPort?.postMessage(SEALER_READY);

parentPort?.on("message", (request: SealRequest) => {
  let reply: ReturnType<typeof packSealed>;
  try {
    reply = packSealed(cipher.sealAll(decodeSealRequest(request)));
  } catch (err) {
    parentPort?.postMessage({
      id: request.id,
      error: err instanceof Error ? err.message : String(err),
    } satisfies SealReply);
    return;
  }
  parentPort?.postMessage({ id: request.id, ...reply } satisfies SealReply, [
    reply.bytes.buffer,
    reply.lengths.buffer,
  ]);
});
