import { useParams } from "react-router-dom";

export function DesignerPage() {
  const { key } = useParams();
  return (
    <div className="page">
      <h1>{key}</h1>
    </div>
  );
}
